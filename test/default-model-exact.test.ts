// The embedded default model (models/default, a Q8_0 GGUF) on the engine's exact
// dequantization against a float64 forward over the same Q8_0 weights
// (scripts/reference/q8_forward.py): the same numbers but for fp32 rounding.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { loadModel, type Model } from '../server/engine/engine';
import {
  DEFAULT_MODEL, FEEDS, largestDifference, logitsFor, readReference, REFERENCES,
} from './helpers/default-model-reference';

// Read once, at the first quantized dot product; this file runs in a process of its own.
process.env.TRAMONTANE_QUANT_KERNEL = 'reference';

describe('the embedded default model, exact dequantization', () => {
  let model: Model;
  before(async () => {
    model = await loadModel(DEFAULT_MODEL);
  });
  after(() => model.dispose());

  for (const file of REFERENCES) {
    for (const feed of FEEDS) {
      test(`${file} matches the float64 forward within 1e-4, ${JSON.stringify(feed)}`, async () => {
        const reference = readReference(file);
        const vocab = reference.logits_shape[1];
        const logits = await logitsFor(model, reference, feed);
        const worst = largestDifference(logits, reference.logits_positions, reference.q8, vocab);
        // fp32 accumulation over 12 layers: the same 1e-4 as every bf16 fixture against
        // transformers (make_fixtures.py); the dequantized weights themselves are exact.
        assert.ok(worst <= 1e-4, `max abs error ${worst}`);
      });
    }
  }
});
