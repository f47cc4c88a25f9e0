// The engine in-process. Each recently used document has its own completion session
// (its KV cache holds that document's last prompt, so typing there reuses it); chat
// and explain share one more session, so they never evict a completion's cache. The
// HTTP API's requests run in a pool of their own (session-pool.ts): whatever `user`
// its clients send, they cannot evict the editor's sessions.
import type { Model, Session } from '../engine/engine';
import { chatTokens, detectChatTemplate } from '../prompt/chat';
import type { PromptTokenizer } from '../prompt/tokenizer';
import type { BackendKind, ChatMessage, ChatTemplateName } from '../protocol';
import type { Backend, ChatJob, ChatRun, CompletionJob, CompletionRun, PoolName, RunFinish } from './backend';
import { EngineQueue } from './engine-queue';
import { EngineWatch } from './engine-watch';
import { adviseMemory } from './memory-advice';
import { SessionPool } from './session-pool';

export interface NativeOptions {
  /** Documents whose completion caches are kept warm at once. */
  completionSessions?: number;
  /** HTTP API users whose completion caches are kept warm at once. */
  httpSessions?: number;
  /** Cache slots beyond the window: how far back a session can roll exactly. */
  slack?: number;
  chunk?: number;
  /** Cache length for models without a sliding window. */
  context?: number;
  /** Called once when an engine call makes no progress for hangLimitMs (engine-watch.ts). */
  onHung?: (stalledMs: number) => void;
  hangLimitMs?: number;
}

export const DEFAULT_HANG_LIMIT_MS = 10 * 60_000;

// Test hook: TRAMONTANE_TEST_FAULT=engine-error-after:N fails every completion after
// N streamed pieces, so the path of an engine error mid-stream can be tested end to end.
function faultAfter(): number | undefined {
  const match = /^engine-error-after:(\d+)$/.exec(process.env.TRAMONTANE_TEST_FAULT ?? '');
  return match ? Number(match[1]) : undefined;
}

// Test hook: TRAMONTANE_TEST_FAULT=engine-hang makes every completion's generation a call
// that never returns, as a stuck engine would, so the hang watch can be tested end to end.
const hangFault = () => process.env.TRAMONTANE_TEST_FAULT === 'engine-hang';

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
  private readonly pools: Record<PoolName, SessionPool>;
  private readonly watch?: EngineWatch;
  /** Most tokens of conversation a chat prompt keeps (old exchanges are dropped first). */
  private readonly conversationLimit: number;

  constructor(
    private readonly model: Model,
    readonly label: string,
    private readonly options: NativeOptions = {},
  ) {
    this.kind = model.backend;
    this.tokenizer = modelTokenizer(model);
    this.chatTemplate = detectChatTemplate(this.tokenizer);
    const create = () => this.newSession();
    this.pools = {
      editor: new SessionPool(Math.max(1, options.completionSessions ?? 2), create),
      http: new SessionPool(Math.max(1, options.httpSessions ?? 1), create),
    };
    if (options.onHung) this.watch = new EngineWatch(options.hangLimitMs ?? DEFAULT_HANG_LIMIT_MS, options.onHung);
    const windowed = model.config.slidingWindow > 0;
    // Without a window, a session holds what its cache holds: the engine's own figure
    // (the model's limit, capped), so that "context full" is never a surprise.
    this.contextLimit = windowed ? Infinity : this.probeCapacity();
    // With a window, older tokens are not attended to: a conversation is kept within it.
    this.conversationLimit = windowed ? model.config.slidingWindow : this.contextLimit;
    if (model.config.windowMissing) {
      this.notice =
        'this GGUF file (Mistral 7B v0.1) carries no sliding window, so attention spans the whole context; ' +
        'set the 4096-token window with --sliding-window 4096 (tramontane.model.slidingWindow)';
    }
  }

  private probeCapacity(): number {
    const probe = this.newSession(); // the cache is allocated lazily: this costs no memory
    try {
      return probe.capacity;
    } finally {
      probe.dispose();
    }
  }

  /** Runs an engine task under the hang watch, when there is one. */
  private watched<T>(task: () => Promise<T>): Promise<T> {
    return this.watch ? this.watch.track(task) : task();
  }

  private newSession(): Session {
    try {
      return this.model.createSession({ slack: this.options.slack, chunk: this.options.chunk, context: this.options.context });
    } catch (error) {
      throw adviseMemory(error, this.model.config.slidingWindow > 0); // a session's cache that does not fit the GPU
    }
  }

  /** Tokens a sequence of `promptTokens` may still generate. */
  private room(promptTokens: number): number {
    return Math.max(0, this.contextLimit - promptTokens);
  }

  complete(job: CompletionJob): Promise<CompletionRun> {
    const tokens = job.tokens;
    if (!tokens) throw new Error('the native backend needs a tokenized prompt');
    const streamed = (piece: string) => {
      this.watch?.progress();
      job.onText(piece);
    };
    // Token healing: the last token goes back to the model, which picks among the tokens
    // that begin with its text (native/engine/heal.h). The prompt fed (and reported) is
    // one token shorter; the picked token counts as generated.
    const healToken = job.heal && tokens.length > 1 ? tokens[tokens.length - 1] : undefined;
    const prompt = healToken === undefined ? tokens : tokens.slice(0, -1);
    return this.queue.urgent(() => this.watched(async () => {
      const run: CompletionRun = { promptTokens: prompt.length, generatedTokens: 0, finish: 'cancelled' };
      if (job.signal.aborted) return run; // superseded or cancelled while queued: dropped
      const session = this.pools[job.pool ?? 'editor'].forKey(job.key);
      try {
        const reuse = await session.reuse(prompt, { signal: job.signal });
        run.reusedTokens = reuse.reused;
        run.computedTokens = reuse.computed;
        job.onPrompt?.({ promptTokens: prompt.length, reusedTokens: reuse.reused, computedTokens: reuse.computed });
        if (job.signal.aborted) return run;
        const limit = faultAfter();
        let pieces = 0;
        let fault: Error | undefined;
        const stop = new AbortController();
        if (hangFault()) await new Promise<never>(() => undefined);
        const onText =
          limit === undefined
            ? streamed
            : (piece: string) => {
                streamed(piece);
                if (++pieces === limit) {
                  fault = new Error(`injected fault after ${limit} tokens`);
                  stop.abort();
                }
              };
        const result = await session.generate(
          {
            maxTokens: Math.min(job.maxTokens, this.room(prompt.length)),
            temperature: job.temperature,
            stopTokens: job.stopTokens,
            stop: job.stop,
            textStart: false, // the suggestion continues the line: keep its leading space
            healToken,
          },
          { signal: limit === undefined ? job.signal : AbortSignal.any([job.signal, stop.signal]), onText },
        );
        if (fault) throw fault;
        run.generatedTokens = result.tokens.length;
        run.steps = result.steps;
        run.draftedTokens = result.drafted;
        run.acceptedTokens = result.accepted;
        run.finish = finishOf(result.finish);
        return run;
      } catch (error) {
        if (job.signal.aborted) return run; // cancelled inside a prefill chunk
        throw error;
      }
    }));
  }

  /** Chat in steps that completions can preempt; each step resumes exactly where the last stopped. */
  async chat(job: ChatJob): Promise<ChatRun> {
    const prompt = this.fitConversation(job.messages, job.system, job.maxTokens);
    const maxTokens = Math.min(job.maxTokens, this.room(prompt.length));
    const generated: number[] = [];
    let drafted = 0;
    let accepted = 0;
    for (;;) {
      const step = await this.queue.background((preempt) => this.watched(async () => {
        if (job.signal.aborted) return 'cancelled' as const;
        const signal = AbortSignal.any([job.signal, preempt]);
        const session = this.pools[job.pool ?? 'editor'].chat();
        // A piece ending in U+FFFD may be a character cut by the preemption: it waits for
        // the next piece of the same step, and is dropped if the step is preempted.
        let held = '';
        const onText = (piece: string) => {
          const text = held + piece;
          held = text.endsWith('\uFFFD') ? text : '';
          if (!held) job.onText(text);
        };
        try {
          await session.reuse([...prompt, ...generated], { signal });
          if (signal.aborted) return 'preempted' as const;
          const result = await session.generate(
            // A resumed answer continues mid-text: keep its first token's space.
            { maxTokens: maxTokens - generated.length, temperature: job.temperature, seed: generated.length, textStart: generated.length === 0 },
            {
              signal,
              onText: (piece) => {
                this.watch?.progress();
                onText(piece);
              },
            },
          );
          generated.push(...result.tokens);
          drafted += result.drafted;
          accepted += result.accepted;
          if (result.finish !== 'cancelled') {
            if (held) job.onText(held);
            return finishOf(result.finish);
          }
          this.dropCutCharacter(generated);
        } catch (error) {
          if (!signal.aborted) throw error;
        }
        return job.signal.aborted ? ('cancelled' as const) : ('preempted' as const);
      }));
      if (step !== 'preempted') {
        return {
          promptTokens: prompt.length,
          generatedTokens: generated.length,
          draftedTokens: drafted,
          acceptedTokens: accepted,
          finish: step,
          text: this.model.detokenize(generated),
        };
      }
    }
  }

  /**
   * Drops the byte tokens of a character the preemption cut in the middle (at most the 3
   * leading bytes of a 4-byte character): the next step generates them again, so its
   * decoder sees the whole character and never streams a broken one.
   */
  private dropCutCharacter(generated: number[]): void {
    for (let dropped = 0; dropped < 3 && generated.length > 0 && this.model.detokenize(generated).endsWith('\uFFFD'); dropped++) generated.pop();
  }

  /**
   * The conversation's tokens, dropping the oldest exchanges until it fits: the context,
   * or for a sliding-window model the window (the model would not see older turns, and
   * re-reading them costs every answer). The question itself is always kept; only
   * without a window can it be too long.
   */
  private fitConversation(messages: ChatMessage[], system: string | undefined, maxTokens: number): number[] {
    let kept = messages;
    for (;;) {
      const tokens = chatTokens(this.tokenizer, this.chatTemplate, kept, system);
      if (tokens.length + Math.min(maxTokens, 64) <= this.conversationLimit) return tokens;
      if (kept.length <= 1) {
        if (this.contextLimit === Infinity) return tokens;
        throw new Error(`the question is ${tokens.length} tokens, more than the model's context of ${this.contextLimit}`);
      }
      kept = kept.slice(2);
    }
  }

  dispose(): void {
    this.watch?.dispose();
    this.pools.editor.dispose();
    this.pools.http.dispose();
    this.model.dispose();
  }
}
