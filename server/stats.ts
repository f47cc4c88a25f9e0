// The cost of recent completion requests, kept for tramontane/stats.
import type { CompletionStats } from './protocol';

export class StatsLog {
  private readonly entries: CompletionStats[] = [];
  private nextId = 1;

  constructor(private readonly capacity = 1000) {}

  newId(): number {
    return this.nextId++;
  }

  add(entry: CompletionStats): void {
    this.entries.push(entry);
    if (this.entries.length > this.capacity) this.entries.shift();
  }

  recent(limit = this.capacity): CompletionStats[] {
    return this.entries.slice(-Math.max(0, limit));
  }
}
