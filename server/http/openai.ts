// `tramontane serve --http 127.0.0.1:PORT`: the engine as an OpenAI-compatible server
// (/v1/completions, /v1/chat/completions, /v1/models), streamed as server-sent events.
// Bound to loopback only; every request passes the checks in guard.ts first. Its
// generations run in sessions of their own, never in the editor's.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Backend } from '../backends/backend';
import { sseEvent } from '../backends/sse';
import { checkHost, checkOrigin, checkToken, HttpError, readJsonBody } from './guard';
import { endsInText, renderTokens, resolveTemplate, type FimTemplate } from '../prompt/templates';
import type { ChatMessage } from '../protocol';

export interface HttpOptions {
  host: string;
  port: number;
  /** Undefined only with --no-auth. */
  token?: string;
  /** Browser origins allowed to call the API (--allow-origin). */
  allowOrigins?: readonly string[];
  /** Host headers accepted besides the bound address (--allow-host). */
  allowHosts?: readonly string[];
  /** Most tokens one request may generate (--max-tokens). */
  maxTokens?: number;
  /** The id /v1/models lists and responses echo. */
  modelName: string;
}

export const DEFAULT_HTTP_MAX_TOKENS = 4096;

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/** "127.0.0.1:8080" → host and port; anything but a loopback address is refused. */
export function parseListen(value: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(value.trim());
  if (!match) throw new Error(`--http expects HOST:PORT, e.g. 127.0.0.1:8080 (got "${value}")`);
  const host = match[1] ?? match[2];
  const port = Number(match[3]);
  if (!LOOPBACK.has(host)) throw new Error(`--http binds to loopback only (127.0.0.1, ::1 or localhost), not ${host}`);
  if (port > 65535) throw new Error(`--http port must be at most 65535 (got ${port})`);
  return { host, port };
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const data = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) });
  res.end(data);
}

// Parameters as OpenAI defines them, checked before any engine work.
function numberParam(body: Record<string, unknown>, name: string, fallback: number, min: number, max: number): number {
  const value = body[name];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new HttpError(400, `${name} must be a number from ${min} to ${max}`);
  }
  return value;
}

function stopParam(body: Record<string, unknown>): string[] {
  const stop = body.stop;
  if (stop === undefined || stop === null) return [];
  if (typeof stop === 'string') return [stop];
  if (Array.isArray(stop) && stop.every((s) => typeof s === 'string')) return stop as string[];
  throw new HttpError(400, 'stop must be a string or an array of strings');
}

/**
 * Usage as OpenAI reports it. Drafted tokens (speculative decoding, drafted from the
 * context) are reported under OpenAI's names for predicted outputs: those the model
 * kept are accepted, the rest rejected; absent when the backend does not draft.
 */
function usageOf(run: { promptTokens?: number; generatedTokens: number; draftedTokens?: number; acceptedTokens?: number }) {
  const usage: Record<string, unknown> = {
    prompt_tokens: run.promptTokens,
    completion_tokens: run.generatedTokens,
    total_tokens: (run.promptTokens ?? 0) + run.generatedTokens,
  };
  if (run.draftedTokens !== undefined && run.acceptedTokens !== undefined) {
    usage.completion_tokens_details = {
      accepted_prediction_tokens: run.acceptedTokens,
      rejected_prediction_tokens: run.draftedTokens - run.acceptedTokens,
    };
  }
  return usage;
}

interface Generation {
  id: string;
  created: number;
  stream: boolean;
  includeUsage: boolean;
  /** vLLM's stream_options.continuous_usage_stats: usage so far in every chunk. */
  continuousUsage: boolean;
}

export async function startHttpServer(backend: Promise<Backend>, options: HttpOptions): Promise<http.Server> {
  const maxTokensCap = options.maxTokens ?? DEFAULT_HTTP_MAX_TOKENS;
  const guard = {
    host: options.host,
    port: () => boundPort(server),
    token: options.token,
    allowOrigins: options.allowOrigins ?? [],
    allowHosts: options.allowHosts ?? [],
  };
  const server = http.createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (res.headersSent) {
        // Mid-stream: say so in the stream, then end it.
        res.end(sseEvent({ error: { message: (error as Error).message, type: 'server_error' } }));
        return;
      }
      const status = error instanceof HttpError ? error.status : 500;
      const type = error instanceof HttpError ? error.type : 'server_error';
      sendJson(res, status, { error: { message: (error as Error).message.split('\n')[0], type } });
    });
  });

  /** OpenAI's max_tokens, within this server's cap. */
  const maxTokensParam = (body: Record<string, unknown>, fallback: number): number => {
    const value = body.max_tokens ?? Math.min(fallback, maxTokensCap);
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) throw new HttpError(400, 'max_tokens must be a non-negative integer');
    if (value > maxTokensCap) throw new HttpError(400, `max_tokens is ${value}, over this server's limit of ${maxTokensCap} (serve --max-tokens)`);
    return value;
  };

  let counter = 0;
  const newGeneration = (body: Record<string, unknown>, prefix: string): Generation => {
    const streamOptions = body.stream_options as { include_usage?: boolean; continuous_usage_stats?: boolean } | undefined;
    return {
      id: `${prefix}-${Date.now().toString(36)}${(++counter).toString(36)}`,
      created: Math.floor(Date.now() / 1000),
      stream: body.stream === true,
      includeUsage: streamOptions?.include_usage === true,
      continuousUsage: streamOptions?.continuous_usage_stats === true,
    };
  };

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    checkHost(req, guard);
    const origin = checkOrigin(req, guard);
    if (origin) {
      res.setHeader('access-control-allow-origin', origin);
      res.setHeader('vary', 'Origin');
      // A browser asks first (without the token) whether it may send the real request.
      if (req.method === 'OPTIONS') {
        res.writeHead(204, {
          'access-control-allow-methods': 'GET, POST',
          'access-control-allow-headers': 'authorization, content-type',
          'access-control-max-age': '600',
        });
        res.end();
        return;
      }
    }
    checkToken(req, guard.token);
    const url = new URL(req.url ?? '/', 'http://localhost');
    const route = `${req.method} ${url.pathname.replace(/\/+$/, '')}`;
    if (route === 'GET /health') return sendJson(res, 200, { status: 'ok' });
    if (route === 'GET /v1/models') {
      return sendJson(res, 200, { object: 'list', data: [{ id: options.modelName, object: 'model', owned_by: 'tramontane' }] });
    }
    if (route === 'POST /v1/completions') return completions(req, res);
    if (route === 'POST /v1/chat/completions') return chat(req, res);
    throw new HttpError(404, `no route ${req.method} ${url.pathname}`);
  }

  /** An AbortSignal that fires when the client goes away before the answer is complete. */
  function clientGone(res: http.ServerResponse): AbortSignal {
    const controller = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) controller.abort();
    });
    return controller.signal;
  }

  async function completions(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const body = await readJsonBody(req);
    const engine = await backend;
    if (!engine.tokenizer) throw new HttpError(500, 'this server has no tokenizer', 'server_error');
    let prompt = body.prompt;
    if (Array.isArray(prompt) && prompt.length === 1 && typeof prompt[0] === 'string') prompt = prompt[0];
    let tokens: number[];
    let heal = false;
    if (typeof prompt === 'string' && typeof body.suffix === 'string') {
      // OpenAI's `suffix`: fill in the middle with the model's own template, token-exact,
      // and with the editor's token healing: this is code completion at a cursor.
      const segments = fimTemplate(engine).segments(prompt, body.suffix);
      tokens = renderTokens(segments, engine.tokenizer);
      heal = endsInText(segments);
    } else if (typeof prompt === 'string') {
      // BOS is added here, as llama.cpp and vLLM do; a literal leading <s> is that BOS.
      tokens = [engine.tokenizer.bosId, ...tokenizeWithControls(engine, prompt.replace(/^<s>/, ''))];
    } else if (Array.isArray(prompt) && prompt.length > 0 && prompt.every((t) => Number.isInteger(t))) {
      tokens = prompt as number[];
    } else {
      throw new HttpError(400, 'prompt must be a string or an array of token ids');
    }
    const maxTokens = maxTokensParam(body, 16);
    const temperature = numberParam(body, 'temperature', 1, 0, 5);
    const stop = stopParam(body);
    const gen = newGeneration(body, 'cmpl');
    const signal = clientGone(res);
    const chunk = (text: string, finish: string | null) => ({
      id: gen.id,
      object: 'text_completion',
      created: gen.created,
      model: options.modelName,
      choices: [{ index: 0, text, logprobs: null, finish_reason: finish }],
    });
    let text = '';
    let generated = 0;
    let cachedPrompt: { promptTokens: number; reusedTokens: number } | undefined;
    const usageSoFar = () => ({
      prompt_tokens: cachedPrompt?.promptTokens,
      completion_tokens: generated,
      total_tokens: (cachedPrompt?.promptTokens ?? 0) + generated,
      prompt_tokens_details: { cached_tokens: cachedPrompt?.reusedTokens },
    });
    if (gen.stream) res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    const run = await engine.complete({
      key: typeof body.user === 'string' ? body.user : '',
      pool: 'http',
      tokens,
      text: '',
      heal,
      maxTokens,
      temperature,
      stop,
      stopTokens: [],
      signal,
      onPrompt: (stats) => (cachedPrompt = stats),
      onText: (piece) => {
        text += piece;
        generated++;
        if (gen.stream) res.write(sseEvent(gen.continuousUsage ? { ...chunk(piece, null), usage: usageSoFar() } : chunk(piece, null)));
      },
    });
    if (run.finish === 'cancelled') return; // the client is gone
    const finish = run.finish === 'length' ? 'length' : 'stop';
    const usage = { ...usageOf(run), prompt_tokens_details: { cached_tokens: run.reusedTokens } };
    if (!gen.stream) return sendJson(res, 200, { ...chunk(text, finish), usage });
    res.write(sseEvent(chunk('', finish)));
    if (gen.includeUsage) res.write(sseEvent({ ...chunk('', null), choices: [], usage }));
    res.end(sseEvent('[DONE]'));
  }

  async function chat(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const body = await readJsonBody(req);
    const engine = await backend;
    if (!Array.isArray(body.messages)) throw new HttpError(400, 'messages must be an array of {role, content}');
    const system: string[] = [];
    const messages: ChatMessage[] = [];
    for (const m of body.messages as { role?: unknown; content?: unknown }[]) {
      if (typeof m?.content !== 'string') throw new HttpError(400, 'each message needs text content');
      if (m.role === 'system') system.push(m.content);
      else if (m.role === 'user' || m.role === 'assistant') messages.push({ role: m.role, content: m.content });
      else throw new HttpError(400, `unsupported role ${JSON.stringify(m?.role)}: use system, user or assistant`);
    }
    const maxTokens = maxTokensParam(body, 512);
    const temperature = numberParam(body, 'temperature', 1, 0, 5);
    const gen = newGeneration(body, 'chatcmpl');
    const signal = clientGone(res);
    const chunk = (delta: Record<string, string>, finish: string | null) => ({
      id: gen.id,
      object: 'chat.completion.chunk',
      created: gen.created,
      model: options.modelName,
      choices: [{ index: 0, delta, finish_reason: finish }],
    });
    let text = '';
    let run;
    try {
      if (gen.stream) {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
        res.write(sseEvent(chunk({ role: 'assistant', content: '' }, null)));
      }
      run = await engine.chat({
        pool: 'http',
        messages,
        system: system.length > 0 ? system.join('\n\n') : undefined,
        maxTokens,
        temperature,
        signal,
        onText: (piece) => {
          text += piece;
          if (gen.stream) res.write(sseEvent(chunk({ content: piece }, null)));
        },
      });
    } catch (error) {
      const message = (error as Error).message;
      if (/roles must alternate|must end with a user|conversation is empty|more than the model's context/.test(message)) throw new HttpError(400, message);
      throw error;
    }
    if (run.finish === 'cancelled') return;
    const finish = run.finish === 'length' ? 'length' : 'stop';
    const usage = usageOf(run);
    if (!gen.stream) {
      return sendJson(res, 200, {
        id: gen.id,
        object: 'chat.completion',
        created: gen.created,
        model: options.modelName,
        choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: finish }],
        usage,
      });
    }
    res.write(sseEvent(chunk({}, finish)));
    if (gen.includeUsage) res.write(sseEvent({ ...chunk({}, null), choices: [], usage }));
    res.end(sseEvent('[DONE]'));
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

const templates = new WeakMap<Backend, FimTemplate>();
function fimTemplate(engine: Backend): FimTemplate {
  let template = templates.get(engine);
  if (!template) {
    template = resolveTemplate('auto', engine.tokenizer);
    if (!template.usesSuffix) throw new HttpError(400, 'suffix is not supported: this model has no fill-in-the-middle tokens');
    templates.set(engine, template);
  }
  return template;
}

/** Text with control tokens written in it ("[SUFFIX]", "[INST]") turned into their ids. */
function tokenizeWithControls(engine: Backend, text: string): number[] {
  const tokenizer = engine.tokenizer!;
  const ids: number[] = [];
  const pattern = /\[[A-Z_/]+\]|<[a-z_]+>|<\|[a-z_]+\|>/g;
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    const id = tokenizer.tokenId(match[0]);
    if (id === undefined) continue;
    if (match.index! > last) ids.push(...tokenizer.encode(text.slice(last, match.index)));
    ids.push(id);
    last = match.index! + match[0].length;
  }
  if (last < text.length) ids.push(...tokenizer.encode(text.slice(last)));
  return ids;
}

export function boundPort(server: http.Server): number {
  return (server.address() as AddressInfo).port;
}
