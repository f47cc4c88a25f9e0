// The engine in-process. Each recently used document has its own completion session
// (its KV cache holds that document's last prompt, so typing there reuses it); chat
// and explain share one more session, so they never evict a completion's cache.
import type { Model, Session } from '../engine/engine';
import { chatTokens, detectChatTemplate } from '../prompt/chat';
import type { PromptTokenizer } from '../prompt/tokenizer';
import type { BackendKind, ChatMessage, ChatTemplateName } from '../protocol';
import type { Backend, ChatJob, ChatRun, CompletionJob, CompletionRun, RunFinish } from './backend';
import { EngineQueue } from './engine-queue';

export interface NativeOptions {
  /** Documents whose completion caches are kept warm at once. */
  completionSessions?: number;
  /** Cache slots beyond the window: how far back a session can roll exactly. */
  slack?: number;
  chunk?: number;
  /** Cache length for models without a sliding window. */
  context?: number;
}

// Test hook: TRAMONTANE_TEST_FAULT=engine-error-after:N fails every completion after
// N streamed pieces, so the path of an engine error mid-stream can be tested end to end.
function faultAfter(): number | undefined {
  const match = /^engine-error-after:(\d+)$/.exec(process.env.TRAMONTANE_TEST_FAULT ?? '');
  return match ? Number(match[1]) : undefined;
}

export function modelTokenizer(model: Model): PromptTokenizer {
  return {
    encode: (text) => model.tokenize(text),
    tokenId: (piece) => model.tokenId(piece),
    bosId: model.config.bosId,
    eosId: model.config.eosId,
  };
}

function finishOf(finish: string): RunFinish {
  return finish === 'cancelled' ? 'cancelled' : finish === 'length' ? 'length' : 'stop';
}

export class NativeBackend implements Backend {
  readonly kind: BackendKind;
  readonly tokenizer: PromptTokenizer;
  readonly chatTemplate: ChatTemplateName;
  readonly contextLimit: number;
  readonly notice?: string;
  readonly queue = new EngineQueue();
  // Insertion order is recency order: the first entry is the least recently used.
  private readonly sessions = new Map<string, Session>();
  private chatSession?: Session;
  private readonly maxSessions: number;

  constructor(
    private readonly model: Model,
    readonly label: string,
    private readonly options: NativeOptions = {},
  ) {
    this.kind = model.backend;
    this.tokenizer = modelTokenizer(model);
    this.chatTemplate = detectChatTemplate(this.tokenizer);
    this.maxSessions = Math.max(1, options.completionSessions ?? 2);
    const windowed = model.config.slidingWindow > 0;
    this.contextLimit = windowed ? Infinity : (options.context ?? model.config.maxPosition) || Infinity;
    if (model.config.windowMissing) {
      this.notice =
        'this GGUF file (Mistral 7B v0.1) carries no sliding window, so attention spans the whole context; ' +
        'set the 4096-token window with --sliding-window 4096 (tramontane.model.slidingWindow)';
    }
  }

  private newSession(): Session {
    return this.model.createSession({ slack: this.options.slack, chunk: this.options.chunk, context: this.options.context });
  }

  /** The session for `key`; past the limit, the least recently used one is handed over. */
  private sessionFor(key: string): Session {
    let session = this.sessions.get(key);
    if (session) {
      this.sessions.delete(key);
    } else if (this.sessions.size >= this.maxSessions) {
      const [oldest, reused] = this.sessions.entries().next().value as [string, Session];
      this.sessions.delete(oldest);
      session = reused;
    } else {
      session = this.newSession();
    }
    this.sessions.set(key, session);
    return session;
  }

  /** Tokens a sequence of `promptTokens` may still generate. */
  private room(promptTokens: number): number {
    return Math.max(0, this.contextLimit - promptTokens);
  }

  complete(job: CompletionJob): Promise<CompletionRun> {
    const tokens = job.tokens;
    if (!tokens) throw new Error('the native backend needs a tokenized prompt');
    return this.queue.urgent(async () => {
      const run: CompletionRun = { promptTokens: tokens.length, generatedTokens: 0, finish: 'cancelled' };
      if (job.signal.aborted) return run; // superseded or cancelled while queued: dropped
      const session = this.sessionFor(job.key);
      try {
        const reuse = await session.reuse(tokens, { signal: job.signal });
        run.reusedTokens = reuse.reused;
        run.computedTokens = reuse.computed;
        job.onPrompt?.({ promptTokens: tokens.length, reusedTokens: reuse.reused, computedTokens: reuse.computed });
        if (job.signal.aborted) return run;
        const limit = faultAfter();
        let pieces = 0;
        let fault: Error | undefined;
        const stop = new AbortController();
        const onText =
          limit === undefined
            ? job.onText
            : (piece: string) => {
                job.onText(piece);
                if (++pieces === limit) {
                  fault = new Error(`injected fault after ${limit} tokens`);
                  stop.abort();
                }
              };
        const result = await session.generate(
          {
            maxTokens: Math.min(job.maxTokens, this.room(tokens.length)),
            temperature: job.temperature,
            stopTokens: job.stopTokens,
            stop: job.stop,
            textStart: false, // the suggestion continues the line: keep its leading space
          },
          { signal: limit === undefined ? job.signal : AbortSignal.any([job.signal, stop.signal]), onText },
        );
        if (fault) throw fault;
        run.generatedTokens = result.tokens.length;
        run.finish = finishOf(result.finish);
        return run;
      } catch (error) {
        if (job.signal.aborted) return run; // cancelled inside a prefill chunk
        throw error;
      }
    });
  }

  /** Chat in steps that completions can preempt; each step resumes exactly where the last stopped. */
  async chat(job: ChatJob): Promise<ChatRun> {
    const prompt = this.fitConversation(job.messages, job.system, job.maxTokens);
    const maxTokens = Math.min(job.maxTokens, this.room(prompt.length));
    const generated: number[] = [];
    for (;;) {
      const step = await this.queue.background(async (preempt) => {
        if (job.signal.aborted) return 'cancelled' as const;
        const signal = AbortSignal.any([job.signal, preempt]);
        const session = (this.chatSession ??= this.newSession());
        try {
          await session.reuse([...prompt, ...generated], { signal });
          if (signal.aborted) return 'preempted' as const;
          const result = await session.generate(
            // A resumed answer continues mid-text: keep its first token's space.
            { maxTokens: maxTokens - generated.length, temperature: job.temperature, seed: generated.length, textStart: generated.length === 0 },
            { signal, onText: job.onText },
          );
          generated.push(...result.tokens);
          if (result.finish !== 'cancelled') return finishOf(result.finish);
        } catch (error) {
          if (!signal.aborted) throw error;
        }
        return job.signal.aborted ? ('cancelled' as const) : ('preempted' as const);
      });
      if (step !== 'preempted') {
        return { promptTokens: prompt.length, generatedTokens: generated.length, finish: step, text: this.model.detokenize(generated) };
      }
    }
  }

  /** The conversation's tokens, dropping the oldest exchanges until it fits the context. */
  private fitConversation(messages: ChatMessage[], system: string | undefined, maxTokens: number): number[] {
    let kept = messages;
    for (;;) {
      const tokens = chatTokens(this.tokenizer, this.chatTemplate, kept, system);
      if (tokens.length + Math.min(maxTokens, 64) <= this.contextLimit) return tokens;
      if (kept.length <= 1) throw new Error(`the question is ${tokens.length} tokens, more than the model's context of ${this.contextLimit}`);
      kept = kept.slice(2);
    }
  }

  dispose(): void {
    for (const session of this.sessions.values()) session.dispose();
    this.sessions.clear();
    this.chatSession?.dispose();
    this.model.dispose();
  }
}
