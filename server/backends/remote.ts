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
  /** The "model" field of requests. */
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
  error?: { message?: string };
}

function finishOf(reason: string | null | undefined): RunFinish {
  return reason === 'length' ? 'length' : 'stop';
}

export class RemoteBackend implements Backend {
  readonly kind: BackendKind = 'remote';
  readonly label: string;
  readonly contextLimit = Infinity;
  readonly autoTemplate?: TemplateName;
  private readonly base: string;

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
    // The server encodes prefix and suffix itself; the client still needs suffix-first
    // windows, whatever the text rendering (which is not sent).
    if (options.fim === 'suffix') this.autoTemplate = 'mistral';
  }

  private async post(path: string, body: Record<string, unknown>, signal: AbortSignal): Promise<ReadableStream<Uint8Array>> {
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'text/event-stream' };
    if (this.options.token) headers.authorization = `Bearer ${this.options.token}`;
    let response: Response;
    try {
      response = await fetch(`${this.base}${path}`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ model: this.options.model ?? 'default', stream: true, ...body }),
        signal,
      });
    } catch (error) {
      if (signal.aborted) throw error;
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      throw new Error(`cannot reach ${this.base}: ${cause?.code ?? cause?.message ?? (error as Error).message}`);
    }
    if (!response.ok || !response.body) {
      const text = await response.text().catch(() => '');
      let message = text.trim().split('\n')[0];
      try {
        message = (JSON.parse(text) as StreamChunk).error?.message ?? message;
      } catch {
        // not JSON: keep the first line
      }
      throw new Error(`${this.base}${path} answered ${response.status}: ${message || response.statusText}`);
    }
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
        if (chunk.usage) usage = chunk.usage;
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
          // Usage in every chunk (vLLM's continuous_usage_stats): a suggestion that ends
          // early closes the stream before the final usage chunk would come.
          stream_options: { include_usage: true, continuous_usage_stats: true },
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
