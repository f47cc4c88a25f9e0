// The conversation, kept per workspace (VS Code's workspaceState), and how it becomes the
// `messages` of a tramontane/chat request. Code attached to an earlier question is kept
// as text so a follow-up still sees it; the newest question's code goes to the server by
// reference (uri and range), and the server fits it to the prompt budget.
import type { ChatMessage } from '../../server/protocol';
import type { KeyValueStore } from '../completion/gate';
import type { Role, ViewMessage } from './messages';

export interface Attachment {
  label: string;
  languageId?: string;
  code: string;
}

export interface StoredMessage {
  id: string;
  role: Role;
  content: string;
  attachment?: Attachment;
  note?: string;
}

const KEY = 'tramontane.chat.history';
/** Enough for a long session; older turns fall off so workspaceState stays small. */
export const MAX_MESSAGES = 100;
/** Characters of attached code kept for follow-ups. */
export const MAX_ATTACHMENT_CHARS = 8000;

export class ChatHistory {
  private messages: StoredMessage[];

  constructor(private readonly store: KeyValueStore) {
    const saved = store.get<StoredMessage[]>(KEY);
    this.messages = Array.isArray(saved) ? saved.filter(isStoredMessage) : [];
  }

  get all(): readonly StoredMessage[] {
    return this.messages;
  }

  async add(message: StoredMessage): Promise<void> {
    const attachment = message.attachment && {
      ...message.attachment,
      code: message.attachment.code.slice(0, MAX_ATTACHMENT_CHARS),
    };
    this.messages.push({ ...message, attachment });
    if (this.messages.length > MAX_MESSAGES) this.messages = this.messages.slice(-MAX_MESSAGES);
    await this.save();
  }

  /** Replaces an answer's text once it has finished streaming. */
  async finish(id: string, content: string, note?: string): Promise<void> {
    const message = this.messages.find((m) => m.id === id);
    if (!message) return;
    message.content = content;
    message.note = note;
    await this.save();
  }

  async clear(): Promise<void> {
    this.messages = [];
    await this.save();
  }

  view(): ViewMessage[] {
    return this.messages.map((m) => ({
      id: m.id,
      role: m.role,
      content: m.content,
      contextLabel: m.attachment?.label,
      note: m.note,
    }));
  }

  /**
   * The conversation for the server, up to and including message `lastId` (the new
   * question, whose own attachment travels separately as a CodeContext). Empty answers
   * (stopped before any text) and the user messages they answered are dropped: Mistral's
   * template expects user and assistant turns to alternate.
   */
  requestMessages(lastId: string): ChatMessage[] {
    const end = this.messages.findIndex((m) => m.id === lastId);
    const upto = end < 0 ? this.messages : this.messages.slice(0, end + 1);
    const result: ChatMessage[] = [];
    for (const [i, m] of upto.entries()) {
      const isLast = i === upto.length - 1;
      if (m.role === 'assistant') {
        if (!m.content.trim()) {
          if (result[result.length - 1]?.role === 'user') result.pop();
          continue;
        }
        if (result[result.length - 1]?.role !== 'user') continue;
        result.push({ role: 'assistant', content: m.content });
        continue;
      }
      const content = !isLast && m.attachment ? withCode(m.content, m.attachment) : m.content;
      // Two questions in a row (the first went unanswered): keep the newer one.
      if (result[result.length - 1]?.role === 'user') result.pop();
      result.push({ role: 'user', content });
    }
    return result;
  }

  private async save(): Promise<void> {
    await this.store.update(KEY, this.messages);
  }
}

function withCode(content: string, attachment: Attachment): string {
  const fence = attachment.code.includes('```') ? '````' : '```';
  return `${content}\n\n${attachment.label}:\n${fence}${attachment.languageId ?? ''}\n${attachment.code}\n${fence}`;
}

function isStoredMessage(value: unknown): value is StoredMessage {
  const m = value as StoredMessage;
  return (
    !!m && typeof m.id === 'string' && (m.role === 'user' || m.role === 'assistant') && typeof m.content === 'string'
  );
}
