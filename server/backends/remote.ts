// A remote OpenAI-compatible server (vLLM, TGI, llama.cpp's server, or another
// `tramontane serve --http`): the same prompts, sent as text to /v1/completions and
// streamed back as server-sent events; chat through /v1/chat/completions.
import type { TemplateName } from '../prompt/templates';
import type { BackendKind } from '../protocol';
import type { Backend, ChatJob, ChatRun, CompletionJob, CompletionRun, RunFinish } from './backend';
import { sseData } from './sse';

export interface RemoteOptions {
  /** Base URL, e.g. http://127.0.0.1:8080 (with or without /v1). */
  url: string;
  /** Sent as "Authorization: Bearer …". */
  token?: string;
  /** The "model" field of requests; without it, the first model the server lists. */
  model?: string;
  /**
   * "template" (default): send the prompt rendered by the FIM template as text.
   * "suffix": send `prompt` (the prefix) and `suffix`, and let the server apply its
   * model's own FIM encoding (vLLM with Codestral, another Tramontane).
   */
  fim?: 'template' | 'suffix';
}

interface StreamChunk {
  choices?: { text?: string; delta?: { content?: string }; finish_reason?: string | null }[];
  usage?: { prompt_tokens?: number; completion_tokens?: number; prompt_tokens_details?: { cached_tokens?: number } };
  /** llama.cpp's, in every chunk with timings_per_token: prompt tokens from its cache, computed, generated. */
  timings?: { cache_n?: number; prompt_n?: number; predicted_n?: number };
  error?: { message?: string };
}

/** The usage a chunk reports, or what llama.cpp's timings say of it. */
function usageOf(chunk: StreamChunk): StreamChunk['usage'] {
  if (chunk.usage) return chunk.usage;
  const { cache_n, prompt_n, predicted_n } = chunk.timings ?? {};
  if (cache_n === undefined || prompt_n === undefined) return undefined;
  return { prompt_tokens: cache_n + prompt_n, completion_tokens: predicted_n, prompt_tokens_details: { cached_tokens: cache_n } };
}

function finishOf(reason: string | null | undefined): RunFinish {
  return reason === 'length' ? 'length' : 'stop';
}

/** What the "auto" template means for a model known only by its name (no tokenizer to inspect). */
export function templateForModelName(name: string): TemplateName {
  if (/codestral/i.test(name)) return 'mistral';
  if (/code-?llama/i.test(name)) return 'codellama';
  if (/starcoder|santacoder/i.test(name)) return 'starcoder';
  return 'prefix-only';
}

/** Why a remote server refused, in one line, with what to do where the status says it. */
function refusal(where: string, status: number, message: string): Error {
  const hint = status === 401 || status === 403 ? ' (set the key with "Tramontane: Set Remote Server API Key", or --remote-token)' : '';
  return new Error(`${where} answered ${status}: ${message}${hint}`);
}

async function errorMessage(response: Response): Promise<string> {
  const text = await response.text().catch(() => '');
  let message = text.trim().split('\n')[0];
  try {
    // OpenAI's {error: {message}}, vLLM's {message}, FastAPI's {detail}.
    const parsed = JSON.parse(text) as { error?: { message?: unknown } | string; message?: unknown; detail?: unknown };
    const found = [typeof parsed.error === 'object' ? parsed.error?.message : parsed.error, parsed.message, parsed.detail].find((m) => typeof m === 'string' && m);
    if (typeof found === 'string') message = found;
  } catch {
    // not JSON: keep the first line
  }
  return message || response.statusText;
}

export class RemoteBackend implements Backend {
  readonly kind: BackendKind = 'remote';
  readonly label: string;
  readonly contextLimit = Infinity;
  autoTemplate?: TemplateName;
  /** The model requests name: the setting, or what the server's /v1/models lists first. */
  model: string;
  private readonly base: string;
  /** llama.cpp's server: no usage before its last chunk, but timings in every one on request. */
  private llamaCpp = false;

  /** A backend whose model is known: named by the options or discovered from the server. */
  static async connect(options: RemoteOptions): Promise<RemoteBackend> {
    const backend = new RemoteBackend(options);
    await backend.discoverModel();
    return backend;
  }

  constructor(private readonly options: RemoteOptions) {
    let url: URL;
    try {
      url = new URL(options.url);
    } catch {
      throw new Error(`not a URL: ${options.url}`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`not an http(s) URL: ${options.url}`);
    this.base = url.href.replace(/\/+$/, '').replace(/\/v1$/, '');
    this.label = this.base;
    this.model = options.model ?? '';
    // The server encodes prefix and suffix itself; the client still needs suffix-first
    // windows, whatever the text rendering (which is not sent).
    if (options.fim === 'suffix') this.autoTemplate = 'mistral';
  }

  private headers(): Record<string, string> {
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'text/event-stream' };
    if (this.options.token) headers.authorization = `Bearer ${this.options.token}`;
    return headers;
  }

  private unreachable(error: unknown): Error {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    return new Error(`cannot reach ${this.base}: ${cause?.code ?? cause?.message ?? (error as Error).message}`);
  }

  /**
   * Asks GET /v1/models which models the server has (vLLM answers 404 to a name it does
   * not serve): the configured one must be among them, else the first is used. A server
   * that refuses (a wrong key) is reported here, before the first keystroke.
   */
  private async discoverModel(): Promise<void> {
    const where = `${this.base}/v1/models`;
    let response: Response;
    try {
      response = await fetch(where, { headers: this.headers(), signal: AbortSignal.timeout(15_000) });
    } catch (error) {
      throw this.unreachable(error);
    }
    if (response.status === 404 && this.model) return; // no model list: trust the setting
    if (!response.ok) {
      const message = await errorMessage(response);
      if (response.status === 404) throw new Error(`${where} answered 404 (${message}): name the model with tramontane.remote.model (--remote-model)`);
      throw refusal(where, response.status, message);
    }
    const body = (await response.json().catch(() => undefined)) as { data?: { id?: unknown; owned_by?: unknown }[] } | undefined;
    const entries = body?.data ?? [];
    const ids = entries.map((entry) => entry.id).filter((id): id is string => typeof id === 'string');
    if (this.model) {
      if (ids.length > 0 && !ids.includes(this.model)) throw new Error(`${this.base} does not serve the model "${this.model}"; it serves ${ids.map((id) => `"${id}"`).join(', ')}`);
    } else {
      if (ids.length === 0) throw new Error(`${where} lists no model: name one with tramontane.remote.model (--remote-model)`);
      this.model = ids[0];
    }
    this.llamaCpp = entries.find((entry) => entry.id === this.model)?.owned_by === 'llamacpp';
    // llama.cpp's server answers a request with "suffix" from the prompt alone: every
    // suggestion would ignore the text after the cursor, silently.
    if (this.options.fim === 'suffix' && this.llamaCpp) {
      throw new Error(`${this.base} is llama.cpp's server, which ignores "suffix" in /v1/completions: set tramontane.remote.fim to template (--remote-fim template)`);
    }
    this.autoTemplate ??= templateForModelName(this.model);
  }

  private async post(path: string, body: Record<string, unknown>, signal: AbortSignal): Promise<ReadableStream<Uint8Array>> {
    let response: Response;
    try {
      response = await fetch(`${this.base}${path}`, {
        method: 'POST',
        headers: this.headers(),
        body: JSON.stringify({ model: this.model, stream: true, ...body }),
        signal,
      });
    } catch (error) {
      if (signal.aborted) throw error;
      throw this.unreachable(error);
    }
    if (!response.ok || !response.body) throw refusal(`${this.base}${path}`, response.status, await errorMessage(response));
    return response.body;
  }

  /** Streams chunks until [DONE]; returns the last usage and finish reason seen. */
  private async stream(body: ReadableStream<Uint8Array>, signal: AbortSignal, onChunk: (chunk: StreamChunk) => void) {
    let usage: StreamChunk['usage'];
    let finish: RunFinish = 'stop';
    try {
      for await (const data of sseData(body)) {
        if (data === '[DONE]') break;
        const chunk = JSON.parse(data) as StreamChunk;
        if (chunk.error) throw new Error(`remote server error: ${chunk.error.message ?? 'unknown'}`);
        onChunk(chunk);
        usage = usageOf(chunk) ?? usage;
        const reason = chunk.choices?.[0]?.finish_reason;
        if (reason) finish = finishOf(reason);
      }
    } catch (error) {
      if (!signal.aborted) throw error;
    }
    return { usage, finish: signal.aborted ? ('cancelled' as const) : finish };
  }

  async complete(job: CompletionJob): Promise<CompletionRun> {
    let generated = 0;
    try {
      const body = await this.post(
        '/v1/completions',
        {
          ...(this.options.fim === 'suffix' && job.fim ? { prompt: job.fim.prefix, suffix: job.fim.suffix } : { prompt: job.text }),
          max_tokens: job.maxTokens,
          temperature: job.temperature,
          stop: job.stop.length > 0 ? job.stop : undefined,
          // Usage in every chunk (vLLM's continuous_usage_stats, llama.cpp's timings): a
          // suggestion that ends early closes the stream before the final usage chunk would come.
          stream_options: { include_usage: true, continuous_usage_stats: true },
          ...(this.llamaCpp ? { timings_per_token: true } : {}),
        },
        job.signal,
      );
      const { usage, finish } = await this.stream(body, job.signal, (chunk) => {
        const text = chunk.choices?.[0]?.text;
        if (text) {
          generated++;
          job.onText(text);
        }
      });
      const cached = usage?.prompt_tokens_details?.cached_tokens;
      return {
        promptTokens: usage?.prompt_tokens,
        reusedTokens: cached,
        computedTokens: cached !== undefined && usage?.prompt_tokens !== undefined ? usage.prompt_tokens - cached : undefined,
        generatedTokens: usage?.completion_tokens ?? generated,
        finish,
      };
    } catch (error) {
      if (job.signal.aborted) return { generatedTokens: generated, finish: 'cancelled' };
      throw error;
    }
  }

  async chat(job: ChatJob): Promise<ChatRun> {
    let generated = 0;
    const messages = job.system ? [{ role: 'system', content: job.system }, ...job.messages] : job.messages;
    try {
      const body = await this.post(
        '/v1/chat/completions',
        { messages, max_tokens: job.maxTokens, temperature: job.temperature, stream_options: { include_usage: true } },
        job.signal,
      );
      const { usage, finish } = await this.stream(body, job.signal, (chunk) => {
        const text = chunk.choices?.[0]?.delta?.content;
        if (text) {
          generated++;
          job.onText(text);
        }
      });
      return { promptTokens: usage?.prompt_tokens, generatedTokens: usage?.completion_tokens ?? generated, finish };
    } catch (error) {
      if (job.signal.aborted) return { generatedTokens: generated, finish: 'cancelled' };
      throw error;
    }
  }

  dispose(): void {}
}
