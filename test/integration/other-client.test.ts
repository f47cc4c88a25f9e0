// Another LSP client, outside VS Code: scripts/lsp-complete.mjs gets a completion
// from `tramontane serve --stdio`.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { SMALL, writeTinyModel } from '../helpers/tiny-model';
import { ROOT, tokenizerPath } from '../helpers/tokenizers';

const dir = writeTinyModel({ ...SMALL, vocab: 32768, eos: 32767 }, 13, { tokenizerFrom: tokenizerPath('v3', 'tokenizer.json') });
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tramontane-client-'));
after(() => [dir, work].forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

test('a stand-alone LSP client gets an inline completion', () => {
  const file = path.join(work, 'main.py');
  fs.writeFileSync(file, 'def greet(name):\n    return "Hello, " + name\n\n\nprint(greet(\n');
  const result = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'lsp-complete.mjs'), '--model', dir, file, '5:13'], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(result.status, 0, result.stderr);
  const { items } = JSON.parse(result.stdout);
  assert.equal(items.length, 1, 'one suggestion');
  assert.equal(typeof items[0].insertText, 'string');
  assert.ok(items[0].insertText.length > 0);
  assert.deepEqual(items[0].range, { start: { line: 4, character: 12 }, end: { line: 4, character: 12 } });
});

test('its errors are one clear line', () => {
  const file = path.join(work, 'short.py');
  fs.writeFileSync(file, 'x = 1\n');
  const result = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'lsp-complete.mjs'), '--model', dir, file, '9:1'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(result.status, 1);
  assert.match(result.stderr, /^lsp-complete: position 8:0 is past the last line/m);
});
