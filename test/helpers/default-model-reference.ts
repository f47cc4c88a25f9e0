// The reference logits of test/fixtures/default-model-reference for the embedded model:
// token sequences, transformers' logits on the bf16 weights, and the float64 forward's
// logits on the Q8_0 weights as shipped (scripts/reference/q8_forward.py).
import fs from 'node:fs';
import path from 'node:path';
import type { Model } from '../../server/engine/engine';
import { ROOT } from './tokenizers';

export const DEFAULT_MODEL = path.join(ROOT, 'models', 'default');
const FIXTURE = path.join(ROOT, 'test', 'fixtures', 'default-model-reference');
export const REFERENCES = ['reference.json', 'reference_window.json', 'reference_chat.json'];

export interface Reference {
  tokens: number[];
  logits_positions: number[];
  logits_shape: [number, number];
  /** transformers, fp32 eager, on the bf16 weights the GGUF was quantized from */
  bf16: Float32Array;
  /** the float64 forward on the exactly dequantized Q8_0 weights */
  q8: Float32Array;
}

function floats(file: string): Float32Array {
  const bytes = fs.readFileSync(path.join(FIXTURE, file));
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
}

export function readReference(name: string): Reference {
  const json = JSON.parse(fs.readFileSync(path.join(FIXTURE, name), 'utf8'));
  return { ...json, bf16: floats(json.logits_file), q8: floats(name.replace(/\.json$/, '_q8_logits.f32')) };
}

/** How each reference is fed: at once, in chunks beside a small slack, token by token. */
export const FEEDS = [{}, { chunk: 64, slack: 16 }, { chunk: 1, slack: 0 }];

/** The model's logits for every position of the reference's tokens, fed as `feed` says. */
export async function logitsFor(model: Model, reference: Reference, feed: (typeof FEEDS)[number]): Promise<Float32Array> {
  const session = model.createSession(feed);
  try {
    return (await session.feed(reference.tokens, { logits: true }))!;
  } finally {
    session.dispose();
  }
}

/**
 * Largest |ours − theirs| over rows of `vocab` logits: row `oursRows[i]` of ours against row
 * i of theirs (a NaN counts as infinitely far).
 */
export function largestDifference(ours: Float32Array, oursRows: number[], theirs: Float32Array, vocab: number): number {
  let worst = 0;
  oursRows.forEach((ourRow, row) => {
    for (let j = 0; j < vocab; j++) {
      const error = Math.abs(ours[ourRow * vocab + j] - theirs[row * vocab + j]);
      worst = Number.isNaN(error) ? Infinity : Math.max(worst, error);
    }
  });
  return worst;
}
