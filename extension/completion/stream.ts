// One streamed suggestion from the server: the latest snapshot of its text, whether it
// is still running, and a way to stop it. Ghost text is shown a whole line at a time:
// a half-generated line would change under the user's eyes with every token.
import { CancellationTokenSource, type CancellationToken } from 'vscode-jsonrpc';
import type { Anchored } from './typeThrough';

export interface SuggestionRequest {
  uri: string;
  line: number;
  character: number;
  /** The cursor's line up to the cursor. */
  linePrefix: string;
  /** True when the user asked for a suggestion (a keybinding), not a keystroke. */
  explicit: boolean;
}

/** The server side of a suggestion: resolves to its final text; `onSnapshot` gets each partial one. */
export interface CompletionBackend {
  complete(request: SuggestionRequest, onSnapshot: (text: string) => void, token: CancellationToken): Promise<string | undefined>;
}

export type StreamState = 'running' | 'done' | 'failed' | 'cancelled';

export interface Disposable {
  dispose(): void;
}

export class SuggestionStream implements Anchored {
  text = '';
  state: StreamState = 'running';
  error: unknown;
  private readonly source = new CancellationTokenSource();
  private readonly listeners = new Set<() => void>();

  constructor(
    readonly uri: string,
    readonly before: string,
    readonly after: string,
    backend: CompletionBackend,
    request: SuggestionRequest,
  ) {
    // The backend may call onSnapshot synchronously; listeners added later still see state.
    backend.complete(request, (text) => this.snapshot(text), this.source.token).then(
      (text) => {
        if (this.state !== 'running') return;
        if (text !== undefined) this.text = text;
        this.settle('done');
      },
      (error: unknown) => {
        if (this.state !== 'running') return;
        this.error = error;
        this.settle(this.source.token.isCancellationRequested ? 'cancelled' : 'failed');
      },
    );
  }

  get running(): boolean {
    return this.state === 'running';
  }

  /** What may be shown now: whole lines while streaming, everything once finished. */
  get display(): string {
    if (!this.running) return this.state === 'done' ? this.text : '';
    const end = this.text.lastIndexOf('\n');
    return end < 0 ? '' : this.text.slice(0, end);
  }

  /** A line with content is complete, or the stream has ended. */
  get ready(): boolean {
    return !this.running || /\S/.test(this.display);
  }

  /** Resolves when `ready`, or when `token` is cancelled (whichever is first). */
  whenReady(token?: { isCancellationRequested: boolean; onCancellationRequested(listener: () => void): Disposable }): Promise<void> {
    if (this.ready || token?.isCancellationRequested) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        sub.dispose();
        cancelSub?.dispose();
        resolve();
      };
      const sub = this.onChange(() => {
        if (this.ready) done();
      });
      const cancelSub = token?.onCancellationRequested(done);
    });
  }

  onChange(listener: () => void): Disposable {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }

  /** Stops the server's work ($/cancelRequest); idempotent. */
  cancel(): void {
    if (!this.running) return;
    this.source.cancel();
    this.settle('cancelled');
  }

  private snapshot(text: string): void {
    if (!this.running || text === this.text) return;
    this.text = text;
    this.emit();
  }

  private settle(state: StreamState): void {
    this.state = state;
    this.emit();
    this.listeners.clear();
    this.source.dispose();
  }

  private emit(): void {
    for (const listener of [...this.listeners]) listener();
  }
}
