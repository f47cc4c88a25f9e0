// The embedded default model (models/default, a Q8_0 GGUF) on the default path (fast
// kernels, 8-bit activations) against a float64 forward on its Q8_0 weights and against HF
// transformers' logits for the bf16 weights it was quantized from, including a FIM prompt
// longer than its window and a chat prompt. The exact check is default-model-exact.test.ts.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { loadModel, type Model } from '../server/engine/engine';
import {
  DEFAULT_MODEL, FEEDS, largestDifference, logitsFor, readReference, REFERENCES,
} from './helpers/default-model-reference';

// The default path rounds twice: the Q8_0 weights, and the activations its fast dot
// products quantize to 8 bits. Each rounding is checked against its own reference:
// - against the float64 forward on the same Q8_0 weights, only the activations' rounding is
//   left. llama.cpp rounds its activations the same way, and on this very file its logits
//   sit at most 0.101 of the rms from that forward (scripts/reference/llama_cpp_distance.py,
//   fixture README). The engine may be a quarter further than its peer, no more;
const ACTIVATION_BAND = 1.25 * 0.101;
// - against transformers on the bf16 weights, the Q8_0 rounding of the weights adds to that:
//   measured on each prompt from its two references, not assumed.

function rmsOf(values: Float32Array): number {
  let square = 0;
  for (const v of values) square += v * v;
  return Math.sqrt(square / values.length);
}

describe('the embedded default model', () => {
  let model: Model;
  before(async () => {
    model = await loadModel(DEFAULT_MODEL);
  });
  after(() => model.dispose());

  test('is the architecture its card describes', () => {
    assert.equal(model.config.vocabSize, 32768);
    assert.equal(model.config.layers, 12);
    assert.ok(model.config.kvHeads < model.config.heads, 'grouped-query attention');
    assert.equal(model.config.slidingWindow, 256);
    assert.equal(model.tokenId('[SUFFIX]'), 13);
    assert.equal(model.tokenId('[PREFIX]'), 11);
    assert.equal(model.tokenId('[INST]'), 3);
  });

  for (const file of REFERENCES) {
    for (const feed of FEEDS) {
      test(`${file}: within the band of the float64 Q8_0 forward and of transformers' bf16 logits, same argmax, ${JSON.stringify(feed)}`, async () => {
        const reference = readReference(file);
        const vocab = reference.logits_shape[1];
        const logits = await logitsFor(model, reference, feed);
        const rms = rmsOf(reference.bf16);
        const positions = reference.logits_positions;
        const weightRounding = largestDifference(reference.q8, positions.map((_, row) => row), reference.bf16, vocab) / rms;

        const activationRounding = largestDifference(logits, positions, reference.q8, vocab) / rms;
        assert.ok(activationRounding <= ACTIVATION_BAND,
          `${activationRounding.toFixed(4)} of the rms from the float64 Q8_0 forward > ${ACTIVATION_BAND}`);

        const band = weightRounding + ACTIVATION_BAND;
        const fromTransformers = largestDifference(logits, positions, reference.bf16, vocab) / rms;
        assert.ok(fromTransformers <= band,
          `${fromTransformers.toFixed(4)} of the rms from transformers > ${band.toFixed(4)} (Q8_0 rounding ${weightRounding.toFixed(4)})`);
        positions.forEach((position, row) => {
          const ours = logits.subarray(position * vocab, (position + 1) * vocab);
          const theirs = reference.bf16.subarray(row * vocab, (row + 1) * vocab);
          const top = [...theirs.keys()].sort((a, b) => theirs[b] - theirs[a]);
          if (theirs[top[0]] - theirs[top[1]] > band * rms) {
            assert.equal(ours.indexOf(Math.max(...ours)), top[0], `position ${position}: argmax`);
          }
        });
      });
    }
  }
});
