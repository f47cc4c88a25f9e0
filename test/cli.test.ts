// The tramontane command line: output formats and one-line errors.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, describe, test } from 'node:test';
import { tramontane } from './helpers/cli';
import { SMALL, writeTinyModel } from './helpers/tiny-model';
import { tokenizerPath } from './helpers/tokenizers';

const tokenizer = tokenizerPath('v3', 'tokenizer.json');
const dir = writeTinyModel({ ...SMALL, vocab: 32768 }, 2, { tokenizerFrom: tokenizer });
after(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('tramontane CLI', () => {
  test('tokenize prints ids as JSON', () => {
    const result = tramontane(['tokenize', '--model', dir, 'def hello():']);
    assert.equal(result.status, 0, result.stderr);
    const ids = JSON.parse(result.stdout);
    assert.ok(Array.isArray(ids) && ids.length > 0 && ids.every(Number.isInteger));
    const withBos = JSON.parse(tramontane(['tokenize', '--model', dir, '--bos', 'def hello():']).stdout);
    assert.deepEqual(withBos, [1, ...ids]);
  });

  test('tokenize --special parses control tokens', () => {
    const plain = JSON.parse(tramontane(['tokenize', '--model', dir, '[SUFFIX]']).stdout);
    const special = JSON.parse(tramontane(['tokenize', '--model', dir, '--special', '[SUFFIX]']).stdout);
    assert.equal(special.length, 1);
    assert.ok(plain.length > 1);
  });

  test('logits prints one row per position', () => {
    const result = tramontane(['logits', '--model', dir, '--tokens', '1,2,3', '--chunk', '2']);
    assert.equal(result.status, 0, result.stderr);
    const { logits } = JSON.parse(result.stdout);
    assert.equal(logits.length, 3);
    assert.equal(logits[0].length, 32768);
  });

  test('complete streams text and stops at --max-tokens', () => {
    const result = tramontane(['complete', '--model', dir, '--max-tokens', '8', 'int main() {']);
    assert.equal(result.status, 0, result.stderr);
    assert.ok(result.stdout.length > 1);
  });

  test('demo types a file and shows each answered suggestion, then the figures', () => {
    const result = tramontane(['demo', '--model', dir, '--chars', '6', '--interval', '30', '--max-tokens', '4']);
    assert.equal(result.status, 0, result.stderr);
    const answered = result.stdout.split('\n').filter((line) => line.includes(' → '));
    assert.ok(answered.length >= 1, result.stdout);
    assert.match(result.stdout, /keystroke → first token: +p50 [\d.]+ ms/);
    assert.match(result.stdout, /computed tokens \/ keystroke: +p50 [\d.]+/);
  });

  const bad: [string, string[], RegExp][] = [
    ['a missing model folder', ['tokenize', '--model', '/nonexistent', 'x'], /not found|does not exist/i],
    ['a bad backend', ['tokenize', '--model', dir, '--backend', 'tpu', 'x'], /expected auto, cpu or cuda/],
    ['bad token ids', ['logits', '--model', dir, '--tokens', '1,x'], /token ids/],
    ['token ids beyond the vocabulary', ['logits', '--model', dir, '--tokens', '1,99999'], /not an id/],
    ['a zero chunk', ['logits', '--model', dir, '--tokens', '1', '--chunk', '0'], /positive/],
    ['no tokens option', ['logits', '--model', dir], /--tokens/],
    ['CUDA where there is none', ['tokenize', '--model', dir, '--backend', 'cuda', 'x'], /cuda/i],
  ];
  for (const [name, args, message] of bad) {
    test(`${name}: one-line error, exit 1`, () => {
      const result = tramontane(args);
      assert.equal(result.status, 1);
      assert.match(result.stderr, message);
      assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
      assert.equal(result.stdout, '');
    });
  }
});
