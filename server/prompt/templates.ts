// Fill-in-the-middle prompt templates per model family, as the families were trained.
// A template turns (prefix, suffix) into segments; segments become token ids for the
// native engine (exact, piece by piece) or text for a remote OpenAI-compatible server.
import type { FimTemplateName } from '../protocol';
import { encodeBare, type PromptTokenizer } from './tokenizer';

export type TemplateName = Exclude<FimTemplateName, 'auto'>;

export type Segment =
  | { kind: 'bos' }
  | { kind: 'control'; piece: string }
  // `bare`: encoded without SentencePiece's leading "▁" (mistral-common's infilling).
  | { kind: 'text'; text: string; bare: boolean };

export interface FimTemplate {
  name: TemplateName;
  /** Whether the text after the cursor is part of the prompt. */
  usesSuffix: boolean;
  /** Whether the suffix comes first, so typing at the cursor keeps the prompt's head. */
  suffixFirst: boolean;
  segments(prefix: string, suffix: string): Segment[];
  /** Control pieces that end the middle, besides EOS. */
  stopPieces: string[];
  /** The same prompt as plain text for servers that parse control tokens in text. */
  text(prefix: string, suffix: string): string;
}

const bos: Segment = { kind: 'bos' };
const control = (piece: string): Segment => ({ kind: 'control', piece });
const text = (value: string, bare = false): Segment[] => (value === '' ? [] : [{ kind: 'text', text: value, bare }]);

/** Base models without FIM training (Mistral 7B v0.1): continue the text before the cursor. */
const prefixOnly: FimTemplate = {
  name: 'prefix-only',
  usesSuffix: false,
  suffixFirst: false,
  segments: (prefix) => [bos, ...text(prefix)],
  stopPieces: [],
  text: (prefix) => prefix,
};

/**
 * Mistral-family FIM (Codestral), exactly mistral-common's encode_fim:
 * [BOS] [SUFFIX] encode_infilling(suffix) [PREFIX] encode(prefix).
 * The suffix is omitted (not even encoded) when empty.
 */
const mistral: FimTemplate = {
  name: 'mistral',
  usesSuffix: true,
  suffixFirst: true,
  segments: (prefix, suffix) => [bos, control('[SUFFIX]'), ...text(suffix, true), control('[PREFIX]'), ...text(prefix)],
  stopPieces: [],
  text: (prefix, suffix) => `[SUFFIX]${suffix}[PREFIX]${prefix}`,
};

/** CodeLlama, prefix-suffix-middle as in its reference: "<PRE> {pre} <SUF>{suf} <MID>". */
function codellama(pieces: { pre: string; suf: string; mid: string; eot: string }): FimTemplate {
  return {
    name: 'codellama',
    usesSuffix: true,
    suffixFirst: false,
    segments: (prefix, suffix) => [
      bos,
      control(pieces.pre),
      ...text(prefix),
      control(pieces.suf),
      ...text(suffix, true),
      control(pieces.mid),
    ],
    stopPieces: [pieces.eot],
    text: (prefix, suffix) => `<PRE> ${prefix} <SUF>${suffix} <MID>`,
  };
}

/** StarCoder: "<fim_prefix>{pre}<fim_suffix>{suf}<fim_middle>", no BOS. */
const starcoder: FimTemplate = {
  name: 'starcoder',
  usesSuffix: true,
  suffixFirst: false,
  segments: (prefix, suffix) => [
    control('<fim_prefix>'),
    ...text(prefix, true),
    control('<fim_suffix>'),
    ...text(suffix, true),
    control('<fim_middle>'),
  ],
  stopPieces: ['<|endoftext|>', '<file_sep>', '<fim_prefix>'],
  text: (prefix, suffix) => `<fim_prefix>${prefix}<fim_suffix>${suffix}<fim_middle>`,
};

// CodeLlama's SentencePiece vocabulary stores its FIM tokens with a leading "▁".
function codellamaPieces(tokenizer?: PromptTokenizer) {
  const spaced = tokenizer?.tokenId('▁<PRE>') !== undefined;
  const p = (name: string) => (spaced ? `▁<${name}>` : `<${name}>`);
  return { pre: p('PRE'), suf: p('SUF'), mid: p('MID'), eot: p('EOT') };
}

/** Picks the template from the special tokens the vocabulary has. */
export function detectTemplate(tokenizer: PromptTokenizer): TemplateName {
  const has = (piece: string) => tokenizer.tokenId(piece) !== undefined;
  if (has('[SUFFIX]') && has('[PREFIX]')) return 'mistral';
  if ((has('▁<PRE>') && has('▁<SUF>') && has('▁<MID>')) || (has('<PRE>') && has('<SUF>') && has('<MID>'))) return 'codellama';
  if (has('<fim_prefix>') && has('<fim_suffix>') && has('<fim_middle>')) return 'starcoder';
  return 'prefix-only';
}

/**
 * The template to use: the override unless "auto", else detected (or `fallback` without a
 * tokenizer). With a tokenizer, an
 * override naming tokens the vocabulary lacks is an error rather than a silent garbage prompt.
 */
export function resolveTemplate(name: FimTemplateName, tokenizer?: PromptTokenizer, fallback: TemplateName = 'prefix-only'): FimTemplate {
  const chosen: TemplateName = name === 'auto' ? (tokenizer ? detectTemplate(tokenizer) : fallback) : name;
  const template = chosen === 'prefix-only' ? prefixOnly : chosen === 'mistral' ? mistral : chosen === 'codellama' ? codellama(codellamaPieces(tokenizer)) : starcoder;
  if (tokenizer) {
    for (const segment of template.segments('a', 'b')) {
      if (segment.kind === 'control' && tokenizer.tokenId(segment.piece) === undefined) {
        throw new Error(`the ${chosen} template needs the token ${segment.piece}, which this tokenizer lacks`);
      }
    }
  }
  return template;
}

/** Whether a prompt ends in document text (the text before the cursor), so that its last
 *  token may be taken off and healed (native/engine/heal.h); not after a control token. */
export function endsInText(segments: Segment[]): boolean {
  return segments.at(-1)?.kind === 'text';
}

/** Token ids of a template's segments, piece by piece as the family's reference does. */
export function renderTokens(segments: Segment[], tokenizer: PromptTokenizer): number[] {
  const ids: number[] = [];
  for (const segment of segments) {
    if (segment.kind === 'bos') ids.push(tokenizer.bosId);
    else if (segment.kind === 'control') ids.push(tokenizer.tokenId(segment.piece)!);
    else ids.push(...(segment.bare ? encodeBare(tokenizer, segment.text) : tokenizer.encode(segment.text)));
  }
  return ids;
}

/** Ids of the stop pieces the vocabulary has. */
export function stopTokenIds(template: FimTemplate, tokenizer: PromptTokenizer): number[] {
  return template.stopPieces.map((piece) => tokenizer.tokenId(piece)).filter((id): id is number => id !== undefined);
}
