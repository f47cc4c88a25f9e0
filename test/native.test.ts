// The engine's own C++ test executables (native/tests/*.cpp), built by `npm install`
// into build/bin: the rolling cache, chunking, rollback, reuse, sampling, malformed
// input and the reference fixtures, checked below the binding. Then the tool
// tramontane-check_drafting: speculative against plain decoding on real model folders.
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

describe('tramontane-check_drafting', () => {
  const exe = path.join(BIN, 'tramontane-check_drafting');
  const run = (args: string[]) => spawnSync(exe, args, { cwd: ROOT, encoding: 'utf8', timeout: 300_000 });

  test('speculative decoding equals plain decoding on the demo model and fixtures with a window, without one, and a mixture', () => {
    const models = ['models/default', 'test/fixtures/models/gqa_window', 'test/fixtures/models/no_window_theta1e6', 'test/fixtures/models/mixtral_8x2'];
    const result = run(['--backend', 'cpu', ...models]);
    const summary = `${result.stdout.slice(-2000)}\n${result.stderr.slice(-2000)}`;
    assert.equal(result.status, 0, summary);
    for (const model of models) assert.match(result.stdout, new RegExp(`== ${model}: cpu backend`), summary);
    // Drafts are proposed and kept on every model, so the comparison is not vacuous.
    const kept = [...result.stdout.matchAll(/drafting: (\d+) of (\d+) drafts kept/g)].map((m) => Number(m[1]));
    assert.equal(kept.length, models.length, summary);
    assert.ok(kept.every((n) => n > 0), summary);
    assert.match(result.stdout, /context of \d+: drafting fills it as plain decoding does/, summary);
    assert.match(result.stdout, /^(\d+) passed, 0 failed$/m, summary);
  });

  test('bad arguments get a one-line error', () => {
    for (const [args, message] of [
      [[], /^error: usage: tramontane-check_drafting/],
      [['--backend', 'tpu', 'models/default'], /^error: --backend expects auto, cpu or cuda, got "tpu"/],
      [['--speed', 'models/default'], /^error: unknown flag --speed/],
      [['test/fixtures/no-such-model'], /^error: .*no-such-model/],
    ] as const) {
      const result = run([...args]);
      assert.equal(result.status, 2, result.stderr);
      assert.match(result.stderr, message);
      assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    }
  });
});
