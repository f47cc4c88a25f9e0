// `tramontane logits` against HF transformers' MistralForCausalLM (fp32, eager) on the
// committed tiny fixtures: every position, whatever the chunk size and slack.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { tramontane } from './helpers/cli';
import { ROOT } from './helpers/tokenizers';

const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'models');
const TOLERANCE = 1e-4;

interface Reference {
  tokens: number[];
  logits_file: string;
  shape: [number, number];
}

function fixtures(): string[] {
  if (!fs.existsSync(FIXTURES)) return [];
  return fs
    .readdirSync(FIXTURES)
    .filter((name) => fs.existsSync(path.join(FIXTURES, name, 'reference.json')))
    .sort();
}

function window(dir: string): number {
  const hf = path.join(dir, 'config.json');
  const config = JSON.parse(fs.readFileSync(fs.existsSync(hf) ? hf : path.join(dir, 'params.json'), 'utf8'));
  return config.sliding_window ?? 0;
}

function maxAbsError(actual: number[][], expected: Float32Array, vocab: number): number {
  let worst = 0;
  actual.forEach((row, i) => {
    assert.equal(row.length, vocab, `row ${i} has ${row.length} logits`);
    row.forEach((value, j) => {
      const error = Math.abs(value - expected[i * vocab + j]);
      worst = Number.isNaN(error) ? Infinity : Math.max(worst, error);
    });
  });
  return worst;
}

describe('reference logits', () => {
  test('fixtures are present', () => {
    assert.ok(fixtures().length >= 6, `found ${fixtures().join(', ')}`);
  });

  for (const name of fixtures()) {
    const dir = path.join(FIXTURES, name);
    const reference: Reference = JSON.parse(fs.readFileSync(path.join(dir, 'reference.json'), 'utf8'));
    const bytes = fs.readFileSync(path.join(dir, reference.logits_file));
    const expected = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
    const [n, vocab] = reference.shape;
    const w = window(dir);
    const chunks = [...new Set([undefined, 1, 7, ...(w > 0 ? [w - 1, w, w + 1, 2 * w + 3] : [19]), n])];
    const slacks = w > 0 ? [undefined, 0, 3] : [undefined];

    for (const chunk of chunks) {
      for (const slack of slacks) {
        test(`${name}: chunk ${chunk ?? 'default'}, slack ${slack ?? 'default'}`, () => {
          const args = ['logits', '--model', dir, '--tokens', reference.tokens.join(',')];
          if (chunk !== undefined) args.push('--chunk', String(chunk));
          if (slack !== undefined) args.push('--slack', String(slack));
          const result = tramontane(args);
          assert.equal(result.status, 0, result.stderr);
          const logits: number[][] = JSON.parse(result.stdout).logits;
          assert.equal(logits.length, n);
          const error = maxAbsError(logits, expected, vocab);
          assert.ok(error <= TOLERANCE, `max abs error ${error}`);
        });
      }
    }
  }
});
