// Remembers the suggestions shown recently, so that typing through one (or accepting
// part of it) is answered at once, without the engine: the rest of the suggestion is
// still the suggestion. An entry matches when the whole document around its anchor is
// unchanged (an edit anywhere changes the prompt, so the answer) and the text typed
// since the anchor is a prefix of the suggestion (server/complete/typeThrough.ts).
import { remainderAfterTyping, type Anchored, type Remainder } from './typeThrough';

export interface CacheEntry extends Anchored {
  uri: string;
}

export class CompletionCache {
  private entries: CacheEntry[] = [];
  hits = 0;
  misses = 0;

  // Each entry holds a whole version of its document: a few are enough to type through.
  constructor(private readonly capacity = 16) {}

  /** Records a suggestion shown at `offset` of `text`. */
  store(uri: string, text: string, offset: number, suggestion: string): void {
    if (suggestion === '') return;
    const entry: CacheEntry = { uri, before: text.slice(0, offset), after: text.slice(offset), text: suggestion };
    this.entries = [entry, ...this.entries.filter((e) => !(e.uri === uri && e.before.length === offset))].slice(0, this.capacity);
  }

  /** The rest of a stored suggestion if the text typed since its anchor follows it. */
  lookup(uri: string, text: string, offset: number): Remainder | undefined {
    for (const entry of this.entries) {
      if (entry.uri !== uri) continue;
      const rest = remainderAfterTyping(entry, text, offset);
      if (rest === undefined || rest.text === '') continue;
      this.hits++;
      return rest;
    }
    this.misses++;
    return undefined;
  }

  /** Forgets a document's entries (closed, or edited out of recognition). */
  forget(uri: string): void {
    this.entries = this.entries.filter((e) => e.uri !== uri);
  }

  /** Forgets everything (the settings that made the suggestions changed). */
  clear(): void {
    this.entries = [];
  }
}
