// Messages between the chat view's host (extension side) and its webview script.
// Types only: both bundles import this.

export type Role = 'user' | 'assistant';

/** One message as the panel shows it. */
export interface ViewMessage {
  id: string;
  role: Role;
  /** Markdown for answers; plain text for the user's messages. */
  content: string;
  /** "app.ts:10-24", when code was attached to a user message. */
  contextLabel?: string;
  /** Still streaming. */
  pending?: boolean;
  /** Why an answer stopped early, shown under it. */
  note?: string;
}

export type HostToView =
  | { type: 'history'; messages: ViewMessage[]; busy: boolean }
  | { type: 'append'; message: ViewMessage }
  | { type: 'delta'; id: string; delta: string }
  /** `content`, when given, is the whole answer and replaces what the deltas built. */
  | { type: 'done'; id: string; content?: string; note?: string }
  | { type: 'busy'; busy: boolean }
  /** What "include the selection or file" would attach now; undefined: no editor. */
  | { type: 'context'; label?: string }
  /** `note`: what the model can and cannot do, shown under the status (the demo model). */
  | { type: 'status'; text: string; ready: boolean; note?: string };

export type ViewToHost =
  | { type: 'ready' }
  | { type: 'send'; text: string; includeContext: boolean }
  | { type: 'stop' }
  | { type: 'copy'; code: string }
  | { type: 'insert'; code: string }
  | { type: 'openLink'; href: string };
