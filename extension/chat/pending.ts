// Messages for a chat panel that is not showing yet. Each kind that is queued (busy,
// context, status) describes a state, so only its latest value matters: a panel never
// opened while the user moves the cursor all day holds three messages, not millions.
import type { HostToView } from './messages';

export class PendingMessages {
  private readonly latest = new Map<HostToView['type'], HostToView>();

  put(message: HostToView): void {
    // Re-inserted at the end: drained in the order of their latest updates.
    this.latest.delete(message.type);
    this.latest.set(message.type, message);
  }

  get size(): number {
    return this.latest.size;
  }

  /** The queued messages, oldest update first; the queue is left empty. */
  drain(): HostToView[] {
    const messages = [...this.latest.values()];
    this.latest.clear();
    return messages;
  }
}
