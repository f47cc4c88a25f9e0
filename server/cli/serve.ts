// tramontane serve: the language server over stdio and/or the OpenAI-compatible HTTP
// endpoint, on the engine (--model) or a remote server (--remote).
import { createConnection, StreamMessageReader, StreamMessageWriter } from 'vscode-languageserver/node';
import { BackendLoader } from '../backends/loader';
import type { BackendSpec } from '../backends/open';
import { boundPort, parseListen, startHttpServer } from '../http/openai';
import { startLanguageServer } from '../lsp/server';
import { resolveModelDir, type EngineOptions } from './options';

export interface ServeOptions extends EngineOptions {
  stdio?: boolean;
  http?: string;
  token?: string;
  remote?: string;
  remoteToken?: string;
  remoteModel?: string;
  remoteFim?: 'template' | 'suffix';
  completionSessions?: number;
  slack?: number;
  context?: number;
}

export function backendSpec(options: ServeOptions): BackendSpec {
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
    native: { completionSessions: options.completionSessions, slack: options.slack, context: options.context },
  };
}

export async function serveCommand(options: ServeOptions): Promise<void> {
  if (!options.stdio && !options.http) throw new Error('say how to serve: --stdio (language server) and/or --http 127.0.0.1:PORT');
  if (options.http && options.remote) throw new Error('--http serves the local engine: it cannot be combined with --remote');
  const listen = options.http ? parseListen(options.http) : undefined;
  const spec = backendSpec(options);
  const loader = new BackendLoader(spec);
  // Nothing but JSON-RPC may reach stdout in --stdio mode.
  const log = (line: string) => process.stderr.write(`tramontane: ${line}\n`);
  if (spec.kind === 'native' && !options.model) {
    log(`no --model given: serving the small demo model in ${spec.modelDir}; pass --model DIR (Mistral weights: config.json or params.json + safetensors) or a .gguf file for real completions`);
  }
  // A stray rejection (a notification to a client that went away) must not take the
  // server down with it.
  process.on('unhandledRejection', (error) => log(`unexpected error: ${error instanceof Error ? error.message : String(error)}`));

  if (listen) {
    const token = options.token ?? process.env.TRAMONTANE_HTTP_TOKEN;
    const modelName = spec.kind === 'native' ? spec.modelDir.replace(/\/+$/, '').replace(/^.*\//, '') : 'remote';
    const server = await startHttpServer(loader.promise, { ...listen, token, modelName });
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
