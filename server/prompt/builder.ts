// Builds the completion prompt for a cursor in a document: the prefix and suffix
// windows, extra context from other documents, and the template's segments (and token
// ids when a tokenizer is at hand).
import type { Position } from 'vscode-languageserver-protocol';
import { budgetCaps, prefixBudget, type BudgetShares } from './budget';
import { commentLine, displayPath, extraContext, type ContextSource } from './extra';
import { endsInText, renderTokens, type FimTemplate, type Segment } from './templates';
import type { PromptTokenizer } from './tokenizer';
import { DEFAULT_POLICY, placePrefixStart, placeSuffixEnd, type WindowPolicy } from './window';

/** The slice of LSP's TextDocument the builder reads. */
export interface PromptDocument {
  readonly uri: string;
  readonly languageId: string;
  readonly lineCount: number;
  getText(): string;
  offsetAt(position: Position): number;
}

/** Per-document state kept between requests: where the prefix window starts, and the
 *  extra context chosen when it was placed (frozen until the start moves, so that
 *  edits elsewhere do not change the head of the prompt). */
export interface WindowMemo {
  start?: number;
  extra?: string;
  extraTokens?: number;
  /** The context version and the cursor line the extra context was chosen at. */
  extraVersion?: number;
  extraLine?: number;
  /** The last suffix and the text after the cursor it was computed from. */
  suffix?: { key: string; text: string; tokens: number };
}

export interface BuiltPrompt {
  /** Document text from the window start to the cursor. */
  prefix: string;
  /** Document text from the cursor to the end of the suffix window ("" if unused). */
  suffix: string;
  extra: string;
  startLine: number;
  /** Whether the window start moved for this request. */
  moved: boolean;
  segments: Segment[];
  /** Token ids, when built with a tokenizer. */
  tokens?: number[];
  /** Whether the prompt ends in document text, whose last token may be healed (endsInText). */
  healable: boolean;
  /** The same prompt as text, for remote servers. */
  text: string;
  /** The cursor line's text before and after the cursor, for post-processing. */
  linePrefix: string;
  lineSuffix: string;
  /** Document text after the cursor line (up to a few thousand characters). */
  after: string;
}

export interface BuilderOptions {
  template: FimTemplate;
  tokenizer?: PromptTokenizer;
  shares: BudgetShares;
  policy?: WindowPolicy;
}

// Without a tokenizer (remote servers) token counts are estimated from characters.
const CHARS_PER_TOKEN = 3.5;
const AFTER_CHARS = 4000;

export class PromptBuilder {
  constructor(private readonly options: BuilderOptions) {}

  get template(): FimTemplate {
    return this.options.template;
  }

  count(text: string): number {
    const tokenizer = this.options.tokenizer;
    return tokenizer ? tokenizer.encode(text).length : Math.ceil(text.length / CHARS_PER_TOKEN);
  }

  /**
   * `others` is only called when the extra context is chosen: when the window moves, or
   * when the cursor is on another line than last time and `contextVersion` (the sources
   * the editor reported) changed. Keystrokes on one line never change the prompt's head.
   */
  build(
    doc: PromptDocument,
    position: Position,
    others: ContextSource[] | (() => ContextSource[]),
    memo: WindowMemo,
    contextVersion = 0,
  ): BuiltPrompt {
    const { template, shares } = this.options;
    // Within one build the same text is often encoded twice (measured, then rendered).
    const encoded = new Map<string, number[]>();
    const base = this.options.tokenizer;
    const tokenizer = base && {
      ...base,
      encode: (t: string) => {
        let ids = encoded.get(t);
        if (!ids) encoded.set(t, (ids = base.encode(t)));
        return ids;
      },
    };
    const count = (t: string) => (tokenizer ? tokenizer.encode(t).length : Math.ceil(t.length / CHARS_PER_TOKEN));
    const policy = this.options.policy ?? DEFAULT_POLICY;
    const text = doc.getText();
    const offset = doc.offsetAt(position);
    const line = position.line;
    const lineStart = (l: number) => (l <= 0 ? 0 : l >= doc.lineCount ? text.length : doc.offsetAt({ line: l, character: 0 }));
    const lineEnd = (l: number) => {
      if (l + 1 >= doc.lineCount) return text.length;
      const next = lineStart(l + 1);
      return text[next - 2] === '\r' ? next - 2 : next - 1;
    };
    const caps = budgetCaps(shares, template.usesSuffix);

    let suffix = '';
    let suffixTokens = 0;
    if (template.usesSuffix) {
      // Typing at the cursor leaves the text after it alone: the last suffix still holds
      // while the text it was computed from (through one more line) is unchanged.
      const cached = memo.suffix;
      if (cached && text.startsWith(cached.key, offset)) {
        suffix = cached.text;
        suffixTokens = cached.tokens;
      } else {
        const measure = (end: number) => count(text.slice(offset, lineEnd(end)));
        const end = placeSuffixEnd(line, doc.lineCount - 1, caps.suffix, measure);
        suffix = text.slice(offset, lineEnd(end));
        const maxChars = Math.floor(caps.suffix * CHARS_PER_TOKEN);
        if (suffix.length > maxChars && count(suffix) > caps.suffix) suffix = suffix.slice(0, maxChars);
        suffixTokens = suffix === '' ? 0 : count(suffix);
        const keyEnd = Math.max(offset + suffix.length, lineEnd(Math.min(end + 1, doc.lineCount - 1)));
        memo.suffix = { key: text.slice(offset, keyEnd), text: suffix, tokens: suffixTokens };
      }
    }

    let extra = memo.extra;
    // Measured as it will be rendered (after the extra context) where that can be shared
    // with the rendering: one encoding of the prompt's head per keystroke.
    const measurePrefix = (start: number) => {
      const slice = text.slice(lineStart(start), offset);
      return start === memo.start && extra ? count(extra + slice) - (memo.extraTokens ?? 0) : count(slice);
    };
    let budget = prefixBudget(shares.total, suffixTokens, memo.extraTokens ?? 0);
    let placement = placePrefixStart(memo.start, line, budget, measurePrefix, policy);
    const newSources = memo.extraVersion !== contextVersion && memo.extraLine !== line;
    if (placement.moved || extra === undefined || newSources) {
      // A new window: choose the extra context afresh, then place the start for it. The
      // current file's path heads its own text, so the model knows where it is.
      const here = commentLine(doc.languageId, `Path: ${displayPath(doc.uri)}`) + '\n';
      extra = extraContext(typeof others === 'function' ? others() : others, doc.languageId, Math.max(0, caps.extra - count(here)), count) + here;
      memo.extraVersion = contextVersion;
      memo.extraLine = line;
      memo.extraTokens = extra ? count(extra) : 0;
      budget = prefixBudget(shares.total, suffixTokens, memo.extraTokens);
      const previous = memo.start;
      placement = placePrefixStart(undefined, line, budget, measurePrefix, policy);
      placement.moved = placement.start !== previous;
    }
    memo.start = placement.start;
    memo.extra = extra;

    let prefix = text.slice(lineStart(placement.start), offset);
    // One enormous line (minified code) can exceed the budget on its own: keep its end.
    const maxChars = Math.floor(budget * CHARS_PER_TOKEN);
    if (prefix.length > maxChars && count(prefix) > budget) prefix = prefix.slice(-maxChars);

    // Models learn code with \n line ends: a CRLF file is shown to them as such (the
    // suggestion comes back with \n, which the editor writes in the file's own style).
    prefix = prefix.replace(/\r\n/g, '\n');
    suffix = suffix.replace(/\r\n/g, '\n');
    const head = extra + prefix;
    const segments = template.segments(head, suffix);
    const lineEndOffset = lineEnd(line);
    return {
      prefix,
      suffix,
      extra,
      startLine: placement.start,
      moved: placement.moved,
      segments,
      tokens: tokenizer ? renderTokens(segments, tokenizer) : undefined,
      healable: endsInText(segments),
      text: template.text(head, suffix),
      linePrefix: text.slice(lineStart(line), offset),
      lineSuffix: text.slice(offset, lineEndOffset),
      after: line + 1 < doc.lineCount ? text.slice(lineStart(line + 1), lineStart(line + 1) + AFTER_CHARS) : '',
    };
  }
}
