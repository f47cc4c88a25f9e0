// Decides, for each request VS Code makes, whether to serve the suggestion already on
// screen (typing through it, or a refresh as more lines stream in) or to start a new
// one, and keeps at most one suggestion stream alive. No `vscode` import: the provider
// adapts this to VS Code's API, and tests drive it directly.
import { SuggestionStream, type CompletionBackend, type Disposable, type SuggestionRequest } from './stream';
import { remainderAfterTyping } from './typeThrough';

export interface CancellationLike {
  readonly isCancellationRequested: boolean;
  onCancellationRequested(listener: () => void): Disposable;
}

export interface DocumentState {
  uri: string;
  /** The whole document. */
  text: string;
  /** The cursor as an offset into `text`. */
  offset: number;
  line: number;
  character: number;
  explicit: boolean;
}

export interface ControllerOptions {
  debounceMs: () => number;
  /**
   * How long a stream whose request VS Code cancelled keeps running, waiting to be
   * picked up by the next request (the next keystroke cancels the previous request first,
   * then asks again; if it typed through the suggestion, the stream is still wanted).
   */
  orphanGraceMs: number;
  /** Least time between two refreshes of ghost text while lines stream in. */
  refreshMs: number;
  /** Asks VS Code to call the provider again (the stream has more to show). */
  refresh: (uri: string) => void;
  /** A stream failed (not cancelled): the server's error, for the log. */
  onError?: (error: unknown) => void;
  /** A stream started (true) or ended, however it ended (false). */
  onActivity?: (active: boolean) => void;
  sleep?: (ms: number, token: CancellationLike) => Promise<void>;
}

export type Outcome = 'typed-through' | 'refresh' | 'new' | 'none';

export interface Suggestion {
  text: string;
  outcome: Outcome;
  /** Characters after the cursor (auto-closed brackets, quotes) that `text` replaces. */
  replace?: number;
}

function cancellableSleep(ms: number, token: CancellationLike): Promise<void> {
  if (ms <= 0 || token.isCancellationRequested) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      sub.dispose();
      resolve();
    }, ms);
    const sub = token.onCancellationRequested(() => {
      clearTimeout(timer);
      sub.dispose();
      resolve();
    });
  });
}

export class InlineCompletionController {
  private stream: SuggestionStream | undefined;
  private streamSub: Disposable | undefined;
  private orphanTimer: ReturnType<typeof setTimeout> | undefined;
  private refreshTimer: ReturnType<typeof setTimeout> | undefined;
  /** What the provider last returned for the current stream, to refresh only on change. */
  private lastShown: string | undefined;
  private lastRefreshAt = 0;
  /** The document as it was when the user dismissed a suggestion (Escape). */
  private dismissed: { uri: string; text: string; offset: number } | undefined;

  constructor(
    private readonly backend: CompletionBackend,
    private readonly options: ControllerOptions,
  ) {}

  async provide(doc: DocumentState, token: CancellationLike): Promise<Suggestion> {
    // A dismissed suggestion stays dismissed until the document or the cursor changes,
    // or the user asks for one.
    const dismissed = this.dismissed;
    if (dismissed && !doc.explicit && dismissed.uri === doc.uri && dismissed.offset === doc.offset && dismissed.text === doc.text) {
      return { text: '', outcome: 'none' };
    }
    this.dismissed = undefined;
    const reused = this.reuse(doc);
    if (reused) return this.serve(reused, doc, token, reused.typed === 0 ? 'refresh' : 'typed-through');

    this.stop();
    await (this.options.sleep ?? cancellableSleep)(doc.explicit ? 0 : this.options.debounceMs(), token);
    if (token.isCancellationRequested) return { text: '', outcome: 'none' };

    const before = doc.text.slice(0, doc.offset);
    const request: SuggestionRequest = {
      uri: doc.uri,
      line: doc.line,
      character: doc.character,
      linePrefix: before.slice(before.lastIndexOf('\n') + 1),
      explicit: doc.explicit,
    };
    const stream = new SuggestionStream(doc.uri, before, doc.text.slice(doc.offset), this.backend, request);
    this.adopt(stream);
    return this.serve({ stream, typed: 0 }, doc, token, 'new');
  }

  /**
   * The user dismissed the suggestion on screen (Escape): stop its stream, so that no
   * refresh brings it back, and show nothing at this cursor until something changes.
   */
  dismiss(doc: Pick<DocumentState, 'uri' | 'text' | 'offset'>): void {
    this.stop();
    this.dismissed = { uri: doc.uri, text: doc.text, offset: doc.offset };
  }

  /** Stops the current stream, if any (document closed, completions turned off). */
  stop(): void {
    this.clearOrphanTimer();
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    this.refreshTimer = undefined;
    this.streamSub?.dispose();
    this.streamSub = undefined;
    this.stream?.cancel();
    this.stream = undefined;
    this.lastShown = undefined;
  }

  dispose(): void {
    this.stop();
  }

  /** The current stream, when the document is its anchor plus a typed prefix of it. */
  private reuse(doc: DocumentState): { stream: SuggestionStream; typed: number } | undefined {
    const stream = this.stream;
    if (!stream || stream.uri !== doc.uri) return undefined;
    if (stream.state === 'failed' || stream.state === 'cancelled') return undefined;
    const rest = remainderAfterTyping(stream, doc.text, doc.offset);
    if (rest === undefined) return undefined;
    const typed = doc.offset - stream.before.length;
    // Typed all of a finished suggestion: time for a new one.
    if (rest.text === '' && !stream.running) return undefined;
    return { stream, typed };
  }

  private async serve(
    found: { stream: SuggestionStream; typed: number },
    doc: DocumentState,
    token: CancellationLike,
    outcome: Outcome,
  ): Promise<Suggestion> {
    const { stream } = found;
    this.clearOrphanTimer();
    await stream.whenReady(token);
    if (token.isCancellationRequested) {
      this.orphan(stream);
      return { text: '', outcome: 'none' };
    }
    if (this.stream !== stream) return { text: '', outcome: 'none' };
    if (stream.state === 'failed') {
      this.options.onError?.(stream.error);
      this.stop();
      return { text: '', outcome: 'none' };
    }
    const display = stream.display;
    // Typing may run ahead of what is displayable (the rest of a half-generated line).
    const rest = remainderAfterTyping({ before: stream.before, after: stream.after, text: display }, doc.text, doc.offset);
    this.lastShown = display;
    if (!rest?.text) return { text: '', outcome: 'none' };
    return rest.replace > 0 ? { text: rest.text, outcome, replace: rest.replace } : { text: rest.text, outcome };
  }

  private adopt(stream: SuggestionStream): void {
    this.stream = stream;
    this.lastShown = undefined;
    this.streamSub = stream.onChange(() => this.changed(stream));
    if (this.options.onActivity) {
      const onActivity = this.options.onActivity;
      onActivity(true);
      const sub = stream.onChange(() => {
        if (stream.running) return;
        sub.dispose();
        onActivity(false);
      });
    }
  }

  /** More of the current stream can be shown: ask VS Code to refresh, at a bounded rate. */
  private changed(stream: SuggestionStream): void {
    if (this.stream !== stream || this.lastShown === undefined) return;
    if (stream.display === this.lastShown) return;
    if (this.refreshTimer) return;
    const wait = Math.max(0, this.lastRefreshAt + this.options.refreshMs - Date.now());
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = undefined;
      if (this.stream !== stream || stream.display === this.lastShown) return;
      this.lastRefreshAt = Date.now();
      this.options.refresh(stream.uri);
    }, wait);
  }

  /** VS Code gave up on the request; keep the stream briefly for the next one to pick up. */
  private orphan(stream: SuggestionStream): void {
    if (this.stream !== stream || !stream.running) return;
    this.clearOrphanTimer();
    this.orphanTimer = setTimeout(() => {
      this.orphanTimer = undefined;
      if (this.stream === stream) this.stop();
    }, this.options.orphanGraceMs);
  }

  private clearOrphanTimer(): void {
    if (this.orphanTimer) clearTimeout(this.orphanTimer);
    this.orphanTimer = undefined;
  }
}
