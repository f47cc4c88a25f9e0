// Remembers the suggestions shown recently, so that typing through one (or accepting
// part of it) is answered at once, without the engine: the rest of the suggestion is
// still the suggestion. An entry matches when the document around its anchor is
// unchanged and the text typed since the anchor is a prefix of the suggestion.
export interface CacheEntry {
  uri: string;
  /** Offset where the suggestion starts. */
  anchor: number;
  /** Document text just before the anchor when the suggestion was made. */
  before: string;
  /** Document text just after the cursor when the suggestion was made. */
  after: string;
  suggestion: string;
}

const CONTEXT_CHARS = 256;

export class CompletionCache {
  private entries: CacheEntry[] = [];
  hits = 0;
  misses = 0;

  constructor(private readonly capacity = 64) {}

  /** Records a suggestion shown at `offset` of `text`. */
  store(uri: string, text: string, offset: number, suggestion: string): void {
    if (suggestion === '') return;
    const entry: CacheEntry = {
      uri,
      anchor: offset,
      before: text.slice(Math.max(0, offset - CONTEXT_CHARS), offset),
      after: text.slice(offset, offset + CONTEXT_CHARS),
      suggestion,
    };
    this.entries = [entry, ...this.entries.filter((e) => !(e.uri === uri && e.anchor === offset))].slice(0, this.capacity);
  }

  /** The rest of a stored suggestion if the text typed since its anchor follows it. */
  lookup(uri: string, text: string, offset: number): string | undefined {
    for (const entry of this.entries) {
      if (entry.uri !== uri || offset < entry.anchor) continue;
      const typed = text.slice(entry.anchor, offset);
      if (typed.length >= entry.suggestion.length || !entry.suggestion.startsWith(typed)) continue;
      if (text.slice(entry.anchor - entry.before.length, entry.anchor) !== entry.before) continue;
      if (text.slice(offset, offset + entry.after.length) !== entry.after) continue;
      this.hits++;
      return entry.suggestion.slice(typed.length);
    }
    this.misses++;
    return undefined;
  }

  /** Forgets a document's entries (closed, or edited out of recognition). */
  forget(uri: string): void {
    this.entries = this.entries.filter((e) => e.uri !== uri);
  }
}
