// Chunks of other files the user has recently looked at, and the definitions of symbols
// near the cursor, as the editor reports them: a ring of the most recent ones, where a
// chunk much like one already held replaces it instead of crowding the ring (llama.vscode
// keeps its extra context the same way). The prompt takes them as extra context.

export type ChunkKind = 'definition' | 'viewed';

export interface Chunk {
  uri: string;
  languageId: string;
  text: string;
  kind: ChunkKind;
}

/** Share of distinct non-blank lines two chunks have in common (Jaccard). */
export function similarity(a: string, b: string): number {
  const lines = (text: string) => new Set(text.split(/\r?\n/).map((l) => l.trim()).filter(Boolean));
  const x = lines(a);
  const y = lines(b);
  if (x.size === 0 && y.size === 0) return 1;
  let common = 0;
  for (const line of x) if (y.has(line)) common++;
  return common / (x.size + y.size - common);
}

export class ChunkRing {
  private chunks: Chunk[] = [];
  /** Grows whenever the ring changes: a prompt's extra context is chosen again only then. */
  version = 0;

  constructor(
    private readonly capacity = 16,
    private readonly alike = 0.5,
  ) {}

  add(chunk: Chunk): void {
    if (chunk.text.trim() === '') return;
    const first = this.chunks[0];
    if (first && first.uri === chunk.uri && first.kind === chunk.kind && first.text === chunk.text) return;
    this.chunks = [chunk, ...this.chunks.filter((c) => !(c.kind === chunk.kind && similarity(c.text, chunk.text) >= this.alike))].slice(0, this.capacity);
    this.version++;
  }

  /** Most recent first: definitions, then what was viewed. */
  list(): Chunk[] {
    return [...this.chunks.filter((c) => c.kind === 'definition'), ...this.chunks.filter((c) => c.kind === 'viewed')];
  }

  forget(uri: string): void {
    const before = this.chunks.length;
    this.chunks = this.chunks.filter((c) => c.uri !== uri);
    if (this.chunks.length !== before) this.version++;
  }
}
