// Typing through a suggestion: when the user types exactly what the ghost text shows,
// the rest of the same suggestion is still right, so it is served again without asking
// the server (no refetch, no flicker). Also covers partial accepts (word, line), which
// insert a prefix of the suggestion just as typing does.

/** A suggestion as it was anchored: the document split at the cursor of its request. */
export interface Anchored {
  /** Document text before the cursor when the suggestion was requested. */
  before: string;
  /** Document text after that cursor. */
  after: string;
  /** The suggestion, inserted at the cursor. */
  text: string;
}

/**
 * What of `anchored.text` is still to be inserted, given the document now and its cursor;
 * undefined when the document no longer matches (an edit elsewhere, a deletion, typed text
 * that differs from the suggestion). The result is '' when the whole suggestion was typed.
 */
export function remainderAfterTyping(anchored: Anchored, text: string, cursor: number): string | undefined {
  const { before, after } = anchored;
  if (cursor < before.length || text.length - cursor !== after.length) return undefined;
  if (!text.startsWith(before) || !text.endsWith(after)) return undefined;
  const typed = text.slice(before.length, cursor);
  if (!anchored.text.startsWith(typed)) return undefined;
  return anchored.text.slice(typed.length);
}

