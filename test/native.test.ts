// The engine's own C++ test executables (native/tests/*.cpp), built by `npm install`
// into build/bin: the rolling cache, chunking, rollback, reuse, sampling, malformed
// input and the reference fixtures, checked below the binding.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { ROOT } from './helpers/tokenizers';

const BIN = path.join(ROOT, 'build', 'bin');
const SOURCES = path.join(ROOT, 'native', 'tests');

describe('native test executables', () => {
  const names = fs
    .readdirSync(SOURCES)
    .filter((file) => file.endsWith('.cpp'))
    .map((file) => `test-${path.basename(file, '.cpp')}`);

  for (const name of names) {
    test(name, () => {
      const exe = path.join(BIN, name);
      assert.ok(fs.existsSync(exe), `${exe} is missing: run npm install`);
      const result = spawnSync(exe, [], { cwd: ROOT, encoding: 'utf8', timeout: 600_000 });
      const summary = `${result.stdout.slice(-2000)}\n${result.stderr.slice(-2000)}`;
      assert.equal(result.status, 0, summary);
      assert.match(result.stdout, /\d+ passed, 0 failed/, summary);
    });
  }
});
