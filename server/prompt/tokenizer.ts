// What prompt building needs from a tokenizer. The engine's Model provides it; unit
// tests can use any SentencePiece implementation.
export interface PromptTokenizer {
  /** SentencePiece encoding: a leading "▁" is added, no BOS, control tokens not parsed. */
  encode(text: string): number[];
  /** The id of a control piece such as "[SUFFIX]", undefined when the vocabulary lacks it. */
  tokenId(piece: string): number | undefined;
  readonly bosId: number;
  readonly eosId: number;
}

const MARKER = '☺';

/**
 * Encodes text without SentencePiece's leading "▁", as mistral-common's
 * `_encode_infilling` does: encode a marker + text and drop the marker's tokens.
 */
export function encodeBare(tokenizer: PromptTokenizer, text: string): number[] {
  if (text === '') return [];
  const marker = tokenizer.encode(MARKER);
  const ids = tokenizer.encode(MARKER + text);
  const markerIntact = marker.every((id, i) => ids[i] === id);
  return markerIntact ? ids.slice(marker.length) : tokenizer.encode(text);
}
