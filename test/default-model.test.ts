// The embedded demo model (models/default) against HF transformers' logits for it
// (fp32 eager on the same bf16 weights), including a FIM prompt longer than its window.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadModel, type Model } from '../server/engine/engine';
import { ROOT } from './helpers/tokenizers';

const MODEL = path.join(ROOT, 'models', 'default');
const FIXTURE = path.join(ROOT, 'test', 'fixtures', 'default-model-reference');

interface Reference {
  tokens: number[];
  logits_file: string;
  logits_positions: number[];
  logits_shape: [number, number];
}

function readReference(name: string): { reference: Reference; expected: Float32Array } {
  const reference: Reference = JSON.parse(fs.readFileSync(path.join(FIXTURE, name), 'utf8'));
  const bytes = fs.readFileSync(path.join(FIXTURE, reference.logits_file));
  return { reference, expected: new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4) };
}

describe('the embedded default model', () => {
  let model: Model;
  before(async () => {
    model = await loadModel(MODEL);
  });
  after(() => model.dispose());

  test('is the architecture its card describes', () => {
    assert.equal(model.config.vocabSize, 32768);
    assert.ok(model.config.kvHeads < model.config.heads, 'grouped-query attention');
    assert.ok(model.config.slidingWindow > 0, 'a sliding window');
    assert.equal(model.tokenId('[SUFFIX]'), 13);
    assert.equal(model.tokenId('[PREFIX]'), 11);
  });

  for (const file of ['reference.json', 'reference_window.json']) {
    for (const options of [{}, { chunk: 64, slack: 16 }, { chunk: 1, slack: 0 }]) {
      test(`${file} within tolerance, ${JSON.stringify(options)}`, async () => {
        const { reference, expected } = readReference(file);
        const vocab = reference.logits_shape[1];
        const session = model.createSession(options);
        const logits = (await session.feed(reference.tokens, { logits: true }))!;
        session.dispose();
        let worst = 0;
        reference.logits_positions.forEach((position, row) => {
          for (let j = 0; j < vocab; j++) {
            const error = Math.abs(logits[position * vocab + j] - expected[row * vocab + j]);
            worst = Number.isNaN(error) ? Infinity : Math.max(worst, error);
          }
        });
        assert.ok(worst <= 1e-4, `max abs error ${worst}`);
      });
    }
  }
});
