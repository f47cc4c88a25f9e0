// tramontane serve: the language server over stdio and/or the OpenAI-compatible HTTP
// endpoint, on the engine (--model) or a remote server (--remote).
import { createConnection, StreamMessageReader, StreamMessageWriter } from 'vscode-languageserver/node';
import { BackendLoader } from '../backends/loader';
import type { BackendSpec } from '../backends/open';
import { boundPort, DEFAULT_HTTP_MAX_TOKENS, parseListen, startHttpServer } from '../http/openai';
import { resolveHttpToken } from '../http/token';
import { startLanguageServer } from '../lsp/server';
import { resolveModelDir, type EngineOptions } from './options';

export interface ServeOptions extends EngineOptions {
  stdio?: boolean;
  http?: string;
  token?: string;
  tokenFile?: string;
  /** False with --no-auth. */
  auth?: boolean;
  allowOrigin?: string[];
  allowHost?: string[];
  maxTokens?: number;
  httpSessions?: number;
  /** Seconds an engine call may go without progress before the server exits. */
  hangLimit?: number;
  remote?: string;
  remoteToken?: string;
  remoteModel?: string;
  remoteFim?: 'template' | 'suffix';
  completionSessions?: number;
  slack?: number;
  context?: number;
}

/** `onHung`: what to do when an engine call hangs (the server exits, see serveCommand). */
export function backendSpec(options: ServeOptions, onHung?: (stalledMs: number) => void): BackendSpec {
  if (options.remote) {
    if (options.model) throw new Error('give either --model or --remote, not both');
    return {
      kind: 'remote',
      url: options.remote,
      token: options.remoteToken ?? process.env.TRAMONTANE_REMOTE_TOKEN,
      model: options.remoteModel,
      fim: options.remoteFim,
    };
  }
  return {
    kind: 'native',
    modelDir: resolveModelDir(options.model),
    engine: options.backend,
    threads: options.threads,
    slidingWindow: options.slidingWindow,
    native: {
      completionSessions: options.completionSessions,
      httpSessions: options.httpSessions,
      slack: options.slack,
      context: options.context,
      onHung,
      hangLimitMs: options.hangLimit === undefined ? undefined : options.hangLimit * 1000,
    },
  };
}

/** "http://localhost:3000" as a browser sends it in Origin: scheme, host and port only. */
function parseOrigin(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`--allow-origin expects an origin such as http://localhost:3000 (got "${value}")`);
  }
  if (!/^https?:$/.test(url.protocol) || url.origin !== value.replace(/\/$/, '')) {
    throw new Error(`--allow-origin expects an origin such as http://localhost:3000: scheme, host and port, no path (got "${value}")`);
  }
  return url.origin;
}

/** "localhost:9000" as a client sends it in Host: a name and a port. */
function parseHost(value: string): string {
  if (!/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(value)) {
    throw new Error(`--allow-host expects HOST:PORT as a client sends it, e.g. localhost:9000 (got "${value}")`);
  }
  return value;
}

export async function serveCommand(options: ServeOptions): Promise<void> {
  if (!options.stdio && !options.http) throw new Error('say how to serve: --stdio (language server) and/or --http 127.0.0.1:PORT');
  if (options.http && options.remote) throw new Error('--http serves the local engine: it cannot be combined with --remote');
  const listen = options.http ? parseListen(options.http) : undefined;
  // Nothing but JSON-RPC may reach stdout in --stdio mode.
  const log = (line: string) => process.stderr.write(`tramontane: ${line}\n`);
  // Checked before the model loads: a server that would refuse every request should not start.
  const token = listen ? resolveHttpToken(options, process.env, log) : undefined;
  const allowOrigins = (options.allowOrigin ?? []).map(parseOrigin);
  const allowHosts = (options.allowHost ?? []).map(parseHost);
  // A stuck engine call cannot be cancelled: a fresh process is the way out. The editor
  // restarts a server that exits; a supervisor restarts an HTTP-only one.
  const onHung = (stalledMs: number) => {
    log(`an engine call made no progress for ${Math.round(stalledMs / 1000)} s (--hang-limit): exiting so that a fresh server can start`);
    process.exit(1);
  };
  const spec = backendSpec(options, onHung);
  const loader = new BackendLoader(spec);
  if (spec.kind === 'native' && !options.model) {
    log(`no --model given: serving the small demo model in ${spec.modelDir}; pass --model DIR (Mistral weights: config.json or params.json + safetensors) or a .gguf file for real completions`);
  }
  // A stray rejection (a notification to a client that went away) must not take the
  // server down with it.
  process.on('unhandledRejection', (error) => log(`unexpected error: ${error instanceof Error ? error.message : String(error)}`));

  if (listen) {
    const modelName = spec.kind === 'native' ? spec.modelDir.replace(/\/+$/, '').replace(/^.*\//, '') : 'remote';
    const maxTokens = options.maxTokens ?? DEFAULT_HTTP_MAX_TOKENS;
    const server = await startHttpServer(loader.promise, { ...listen, token, allowOrigins, allowHosts, maxTokens, modelName });
    if (token === undefined) log('warning: --no-auth: every process and user on this machine can use the HTTP API');
    log(`OpenAI-compatible API on http://${listen.host.includes(':') ? `[${listen.host}]` : listen.host}:${boundPort(server)}/v1${token ? ' (bearer token required)' : ''}`);
    loader.promise.then(
      () => log('model ready'),
      (error: Error) => log(`model failed to load: ${error.message}`),
    );
  }

  if (options.stdio) {
    const connection = createConnection(new StreamMessageReader(process.stdin), new StreamMessageWriter(process.stdout));
    // Without --http there is nothing left to serve once the client hangs up.
    if (!listen) process.stdin.on('end', () => process.exit(0));
    startLanguageServer(connection, loader);
  }

  // Serve until killed or, with --stdio alone, until the client exits.
  await new Promise<never>(() => undefined);
}
