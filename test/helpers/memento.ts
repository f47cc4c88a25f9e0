// An in-memory stand-in for VS Code's Memento (workspaceState / globalState) that keeps
// values as JSON, as VS Code does, so nothing passes by reference.
import type { KeyValueStore } from '../../extension/completion/gate';

export class MemoryStore implements KeyValueStore {
  readonly data = new Map<string, string>();

  get<T>(key: string): T | undefined {
    const raw = this.data.get(key);
    return raw === undefined ? undefined : (JSON.parse(raw) as T);
  }

  update(key: string, value: unknown): Promise<void> {
    if (value === undefined) this.data.delete(key);
    else this.data.set(key, JSON.stringify(value));
    return Promise.resolve();
  }
}
