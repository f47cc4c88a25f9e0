// Turns raw model text into the suggestion to show, as it streams in: one line or a
// block depending on where the cursor is, cut where the block ends, without a closing
// bracket that has nothing to close, without text the document already has after the
// cursor. `done` tells the caller to stop generating: the rest would be thrown away.

export interface CursorContext {
  /** The cursor line's text before the cursor. */
  linePrefix: string;
  /** The cursor line's text after the cursor. */
  lineSuffix: string;
  /** Document text after the cursor line. */
  after: string;
  /** Most lines of a multi-line suggestion. */
  maxLines: number;
}

export type Mode = 'single-line' | 'multi-line';

export type StopReason = 'line-end' | 'block-end' | 'max-lines' | 'unbalanced' | 'repeats-suffix';

export interface Processed {
  text: string;
  done: boolean;
  reason?: StopReason;
}

const OPENERS: Record<string, string> = { '(': ')', '[': ']', '{': '}' };
const CLOSERS = new Set([')', ']', '}']);
// Text an editor may have auto-inserted after the cursor: closing brackets, quotes, ;,
const CLOSING_TAIL = /^[\s)\]}>;,'"`]*$/;
const BLOCK_OPENER = /(?:[{([:]|=>|\b(?:do|then|else|begin))\s*$/;

export function completionMode(ctx: CursorContext): Mode {
  if (!CLOSING_TAIL.test(ctx.lineSuffix)) return 'single-line';
  if (ctx.linePrefix.trim() === '') return 'multi-line';
  if (ctx.lineSuffix.trim() === '') return BLOCK_OPENER.test(ctx.linePrefix) ? 'multi-line' : 'single-line';
  // Closers after the cursor: arguments in "f(|)" stay on the line; a body in "{|}" does not.
  return /\{\s*$/.test(ctx.linePrefix) ? 'multi-line' : 'single-line';
}

export function indentWidth(line: string): number {
  let width = 0;
  for (const ch of line) {
    if (ch === ' ') width += 1;
    else if (ch === '\t') width += 4;
    else break;
  }
  return width;
}

/** Brackets left open at the end of `text`, ignoring those inside string literals. */
export function openBrackets(text: string): string[] {
  const stack: string[] = [];
  scanBrackets(text, stack);
  return stack;
}

/**
 * Pushes and pops brackets of `text` on `stack`; returns the index of the first closer
 * that matches nothing open, or -1. Quotes reset at line ends (an apostrophe in a
 * comment must not swallow the rest of the file).
 */
function scanBrackets(text: string, stack: string[]): number {
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '\n') {
      if (quote !== '`') quote = undefined;
      continue;
    }
    if (quote) {
      if (ch === '\\') i++;
      else if (ch === quote) quote = undefined;
      continue;
    }
    if (ch === '"' || ch === "'" || ch === '`') quote = ch;
    else if (ch in OPENERS) stack.push(ch);
    else if (CLOSERS.has(ch)) {
      if (stack.length > 0 && OPENERS[stack[stack.length - 1]] === ch) stack.pop();
      else return i;
    }
  }
  return -1;
}

/** Drops the end of `text` that the document already has right after the cursor. */
export function trimSuffixOverlap(text: string, lineSuffix: string): string {
  const tail = lineSuffix.trimEnd();
  for (let k = Math.min(tail.length, text.length); k > 0; k--) {
    const overlap = tail.slice(0, k);
    if (!text.endsWith(overlap)) continue;
    // Only closing punctuation, or the whole rest of the line: "fo" + "o)" is not overlap.
    if (k === tail.length || CLOSING_TAIL.test(overlap)) return text.slice(0, text.length - k);
  }
  return text;
}

function firstNonBlankLine(text: string): string | undefined {
  return text.split(/\r?\n/).find((line) => line.trim() !== '');
}

export function postProcess(raw: string, ctx: CursorContext, final: boolean): Processed {
  const mode = completionMode(ctx);
  const lines = raw.replace(/\r\n/g, '\n').split('\n');
  let kept: string[] = [];
  let done = false;
  let reason: StopReason | undefined;
  const stop = (why: StopReason) => {
    done = true;
    reason = why;
  };

  if (mode === 'single-line') {
    kept = [lines[0]];
    if (lines.length > 1) stop('line-end');
  } else {
    const cursorIndent = indentWidth(ctx.linePrefix);
    const opener = BLOCK_OPENER.test(ctx.linePrefix);
    const nextInDocument = firstNonBlankLine(ctx.after)?.trim();
    let blankRun = 0;
    for (let i = 0; i < lines.length && !done; i++) {
      const line = lines[i];
      const complete = i < lines.length - 1;
      if (i === 0) {
        kept.push(line);
        continue;
      }
      if (line.trim() === '') {
        // Decided once the line is complete: a blank line may still get text.
        if (complete && ++blankRun >= 2) {
          stop('block-end');
          break;
        }
        kept.push(line);
        continue;
      }
      blankRun = 0;
      const indent = indentWidth(line);
      if (nextInDocument !== undefined && complete && line.trim() === nextInDocument && indent <= cursorIndent) {
        stop('repeats-suffix');
        break;
      }
      if (indent < cursorIndent) {
        stop('block-end');
        break;
      }
      if (indent === cursorIndent && opener) {
        // The line that closes the block the cursor line opened: keep it unless the
        // document already closes it, and stop after it.
        const closes = CLOSERS.has(line.trim()[0]);
        if (closes && complete && line.trim() !== nextInDocument) kept.push(line);
        if (closes && !complete) break; // wait for the whole closing line
        stop('block-end');
        break;
      }
      if (kept.length >= ctx.maxLines) {
        stop('max-lines');
        break;
      }
      kept.push(line);
    }
  }

  let text = kept.join('\n');
  // Cut before a closing bracket that closes nothing opened on the line or in the text.
  const stack = openBrackets(ctx.linePrefix);
  const unmatched = scanBrackets(text, stack);
  if (unmatched >= 0) {
    text = text.slice(0, unmatched);
    if (!done) stop('unbalanced');
  }
  if (final || done) {
    text = trimSuffixOverlap(text.replace(/\s+$/, ''), ctx.lineSuffix);
    if (mode === 'multi-line') text = text.replace(/(\n[ \t]*)+$/, '');
  }
  return { text, done, reason };
}
