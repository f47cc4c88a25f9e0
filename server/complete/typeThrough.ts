// Typing through a suggestion: when the user types exactly what the ghost text shows,
// the rest of the same suggestion is still right, so it is served again without asking
// the model (no refetch, no flicker). Also covers partial accepts (word, line), which
// insert a prefix of the suggestion just as typing does. One rule for the editor's
// ghost text and the server's completion cache.
//
// Two things editors do while the user types, that must not break the match:
//  - auto-closing: typing `(` inserts `()` with the cursor between, so text appears
//    after the cursor. Closing brackets and quotes there are accepted when the rest of
//    the suggestion's line has them, in order; the suggestion then replaces them.
//    Example: suggestion `(a, b):`, typed `(`, document `(|)` → rest `a, b):` replacing `)`.
//  - line ends: suggestions use `\n`; in a CRLF file, Enter types `\r\n`.

/** A suggestion as it was anchored: the document split at the cursor of its request. */
export interface Anchored {
  /** Document text before the cursor when the suggestion was requested. */
  before: string;
  /** Document text after that cursor. */
  after: string;
  /** The suggestion (with `\n` line ends), inserted at the cursor. */
  text: string;
}

export interface Remainder {
  /** What of the suggestion is still to be inserted ('' when all of it was typed). */
  text: string;
  /** Characters right after the cursor, auto-inserted closers, that `text` replaces. */
  replace: number;
}

const AUTO_CLOSED = /^[)\]}>"'`]*$/;

/** Whether `closers` appear in `line` in this order (other characters between). */
function coversInOrder(line: string, closers: string): boolean {
  let at = 0;
  for (const ch of closers) {
    at = line.indexOf(ch, at);
    if (at < 0) return false;
    at++;
  }
  return true;
}

/**
 * The rest of `anchored.text`, given the document now and its cursor; undefined when
 * the document no longer matches (an edit elsewhere, a deletion, typed text that differs
 * from the suggestion, text after the cursor that is not the suggestion's closers).
 */
export function remainderAfterTyping(anchored: Anchored, text: string, cursor: number): Remainder | undefined {
  const { before, after } = anchored;
  if (cursor < before.length || text.length - cursor < after.length) return undefined;
  if (!text.startsWith(before) || !text.endsWith(after)) return undefined;
  const inserted = text.slice(cursor, text.length - after.length);
  if (!AUTO_CLOSED.test(inserted)) return undefined;
  const typed = text.slice(before.length, cursor).replace(/\r\n/g, '\n');
  if (!anchored.text.startsWith(typed)) return undefined;
  const rest = anchored.text.slice(typed.length);
  if (inserted !== '' && !coversInOrder(rest.split('\n')[0], inserted)) return undefined;
  return { text: rest, replace: inserted.length };
}
