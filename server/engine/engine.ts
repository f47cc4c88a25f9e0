// The engine as the server and the CLI use it: typed, ordered, cancellable.
// Every call on a session waits for the previous one (a session runs one call at a
// time natively); an AbortSignal stops the call in flight within one token.
import {
  nativeAddon,
  type BackendChoice,
  type BackendName,
  type GenerateResult,
  type ModelConfig,
  type NativeModel,
  type NativeSession,
  type ReuseStats,
  type SamplingOptions,
  type SessionOptions,
} from './binding';

export type { BackendChoice, BackendName, GenerateResult, ModelConfig, ReuseStats, SamplingOptions, SessionOptions };

export interface LoadOptions {
  /** Default auto: CUDA when the build has it and a GPU is present, else the CPU. */
  backend?: BackendChoice;
  threads?: number;
  /** A sliding window for a GGUF file that carries none (Mistral 7B v0.1's: 4096). */
  slidingWindow?: number;
  onProgress?: (fraction: number) => void;
}

export async function loadModel(dir: string, options: LoadOptions = {}): Promise<Model> {
  const native = await nativeAddon().loadModel(
    dir,
    { backend: options.backend, threads: options.threads, slidingWindow: options.slidingWindow },
    options.onProgress,
  );
  return new Model(native);
}

export class Model {
  readonly config: ModelConfig;
  readonly backend: BackendName;
  private readonly sessions = new Set<Session>();

  constructor(private readonly native: NativeModel) {
    this.config = native.config();
    this.backend = native.backend();
  }

  get hasTokenizer(): boolean {
    return this.native.hasTokenizer();
  }

  tokenize(text: string, options: { bos?: boolean; special?: boolean } = {}): number[] {
    return this.native.tokenize(text, options);
  }

  detokenize(ids: number[], options: { special?: boolean } = {}): string {
    return this.native.detokenize(ids, options);
  }

  /** The id of a piece such as "[SUFFIX]", or undefined when the vocabulary lacks it. */
  tokenId(piece: string): number | undefined {
    const id = this.native.tokenId(piece);
    return id >= 0 ? id : undefined;
  }

  createSession(options: SessionOptions = {}): Session {
    const session = new Session(this.native.createSession(options), () => this.sessions.delete(session));
    this.sessions.add(session);
    return session;
  }

  /** Idempotent: disposes every session, then the weights. */
  dispose(): void {
    for (const session of [...this.sessions]) session.dispose();
    this.native.dispose();
  }
}

export class CancelledError extends Error {
  constructor() {
    super('cancelled');
    this.name = 'CancelledError';
  }
}

export class Session {
  private tail: Promise<unknown> = Promise.resolve();
  private disposed = false;

  constructor(
    private readonly native: NativeSession,
    private readonly onDispose: () => void,
  ) {}

  get tokens(): number[] {
    return this.native.tokens();
  }

  get window(): number {
    return this.native.window();
  }

  get capacity(): number {
    return this.native.capacity();
  }

  /** Appends tokens; with logits: true, resolves to one row of vocabSize floats per token. */
  feed(tokens: number[], options: { logits?: boolean; signal?: AbortSignal } = {}): Promise<Float32Array | undefined> {
    return this.run(options.signal, () => this.native.feed(tokens, { logits: options.logits }));
  }

  lastLogits(): Float32Array | null {
    return this.native.lastLogits();
  }

  /** Shrinks to `length` tokens; resolves to how many tokens had to be recomputed. */
  rollback(length: number): Promise<number> {
    return this.run(undefined, () => this.native.rollback(length));
  }

  /** Keeps the longest common prefix with `prompt` and computes only the rest. */
  reuse(prompt: number[], options: { signal?: AbortSignal } = {}): Promise<ReuseStats> {
    return this.run(options.signal, () => this.native.reuse(prompt));
  }

  generate(
    sampling: SamplingOptions,
    options: { signal?: AbortSignal; onText?: (piece: string) => void } = {},
  ): Promise<GenerateResult> {
    return this.run(options.signal, () => this.native.generate(sampling, options.onText));
  }

  /** Streams text pieces; the iterator's return value is the whole result. */
  async *stream(sampling: SamplingOptions, options: { signal?: AbortSignal } = {}): AsyncGenerator<string, GenerateResult> {
    const pieces: string[] = [];
    let wake: (() => void) | undefined;
    let settled = false;
    const done = this.generate(sampling, {
      signal: options.signal,
      onText: (piece) => {
        pieces.push(piece);
        wake?.();
      },
    }).finally(() => {
      settled = true;
      wake?.();
    });
    done.catch(() => undefined); // rethrown below, after the pieces are drained
    for (;;) {
      while (pieces.length > 0) yield pieces.shift()!;
      if (settled) return await done;
      await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
    }
  }

  /** Idempotent. A call in flight is cancelled. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.native.dispose();
    this.onDispose();
  }

  private run<T>(signal: AbortSignal | undefined, call: () => Promise<T>): Promise<T> {
    const result = this.tail.then(async () => {
      if (this.disposed) throw new Error('the session has been disposed');
      if (signal?.aborted) throw new CancelledError();
      const onAbort = () => this.native.cancel();
      signal?.addEventListener('abort', onAbort);
      try {
        return await call();
      } catch (error) {
        // The engine stops a prefill between chunks with its own error; callers see one kind.
        if (signal?.aborted) throw new CancelledError();
        throw error;
      } finally {
        signal?.removeEventListener('abort', onAbort);
      }
    });
    this.tail = result.catch(() => undefined);
    return result;
  }
}
