// The sessions one kind of caller keeps warm (the editor, or the HTTP API): one per key
// (a document, an API user), the least recently used handed over past the limit, and one
// for chat. Pools share nothing, so one pool's traffic never evicts another's caches.
import type { Session } from '../engine/engine';

export class SessionPool {
  // Insertion order is recency order: the first entry is the least recently used.
  private readonly sessions = new Map<string, Session>();
  private chatSession?: Session;

  constructor(
    private readonly limit: number,
    private readonly create: () => Session,
  ) {}

  /** The session for `key`; past the limit, the least recently used one is handed over. */
  forKey(key: string): Session {
    let session = this.sessions.get(key);
    if (session) {
      this.sessions.delete(key);
    } else if (this.sessions.size >= this.limit) {
      const [oldest, reused] = this.sessions.entries().next().value as [string, Session];
      this.sessions.delete(oldest);
      session = reused;
    } else {
      session = this.create();
    }
    this.sessions.set(key, session);
    return session;
  }

  chat(): Session {
    return (this.chatSession ??= this.create());
  }

  dispose(): void {
    for (const session of this.sessions.values()) session.dispose();
    this.sessions.clear();
    this.chatSession?.dispose();
    this.chatSession = undefined;
  }
}
