// The language server: LSP over a connection (stdio in `tramontane serve --stdio`),
// incremental document sync, textDocument/inlineCompletion, and Tramontane's custom
// methods (server/protocol.ts). Errors answer the request; the server stays up.
import {
  MessageType,
  ProgressType,
  ShowMessageNotification,
  TextDocumentSyncKind,
  type CancellationToken,
  type Connection,
  type InitializeResult,
} from 'vscode-languageserver/node';
import type { InlineCompletionItem, InlineCompletionList, InlineCompletionParams, Range } from 'vscode-languageserver-protocol';
import type { Backend } from '../backends/backend';
import type { BackendLoader } from '../backends/loader';
import { describeSpec } from '../backends/open';
import { RemoteBackend } from '../backends/remote';
import { ChatService } from '../chat/service';
import { CompletionService } from '../complete/service';
import {
  ChatRequest,
  ContextChunksNotification,
  DEFAULT_SETTINGS,
  ExplainRequest,
  GetStatusRequest,
  LoadProgressNotification,
  ModelStatusNotification,
  PingRequest,
  PROTOCOL_VERSION,
  StatsRequest,
  type ChatChunk,
  type ChatParams,
  type ChatResult,
  type ContextChunksParams,
  type ExplainParams,
  type InitializationOptions,
  type InlineCompletionPartial,
  type LoadProgressParams,
  type ModelStatus,
  type PingResult,
  type Settings,
  type StatsParams,
  type StatsResult,
} from '../protocol';
import { ChunkRing } from '../prompt/ring';
import { StatsLog } from '../stats';
import { OpenDocuments } from './documents';
import { cancelled, checkPosition, firstLine, invalidParams, requestFailed, unknownDocument } from './errors';
import { mergeSettings } from './settings';

interface Services {
  backend: Backend;
  completions: CompletionService;
  chat: ChatService;
}

function abortSignalOf(token: CancellationToken): AbortSignal {
  const controller = new AbortController();
  if (token.isCancellationRequested) controller.abort();
  else token.onCancellationRequested(() => controller.abort());
  return controller.signal;
}

const completionProgress = new ProgressType<InlineCompletionPartial>();
const chatProgress = new ProgressType<ChatChunk>();

export function startLanguageServer(connection: Connection, loader: BackendLoader): void {
  let settings: Settings = { ...DEFAULT_SETTINGS };
  const stats = new StatsLog();
  let services: Promise<Services> | undefined;
  let ready: Services | undefined;
  const described = describeSpec(loader.spec);
  let status: ModelStatus = { state: 'loading', backend: described.backend, model: described.model, progress: 0 };
  let readyStatus: ModelStatus | undefined;
  const setStatus = (next: ModelStatus) => {
    status = next;
    void connection.sendNotification(ModelStatusNotification, status);
  };
  // A remote server that refuses (a key revoked, the server gone) shows in the status
  // until it answers again.
  const remoteAnswered = (error?: unknown) => {
    if (ready?.backend.kind !== 'remote' || !readyStatus) return;
    if (error !== undefined) {
      const message = firstLine(error);
      if (status.state !== 'error' || status.error !== message) setStatus({ ...readyStatus, state: 'error', error: message });
    } else if (status.state === 'error') {
      setStatus(readyStatus);
    }
  };

  const documents = new OpenDocuments((uri) => ready?.completions.forget(uri));
  documents.listen(connection);
  const chunks = new ChunkRing();
  connection.onNotification(ContextChunksNotification, (params: ContextChunksParams) => {
    for (const chunk of Array.isArray(params?.chunks) ? params.chunks : []) {
      if (typeof chunk?.uri !== 'string' || typeof chunk.text !== 'string') continue;
      chunks.add({ uri: chunk.uri, languageId: String(chunk.languageId ?? ''), text: chunk.text.slice(0, 4000), kind: chunk.kind === 'definition' ? 'definition' : 'viewed' });
    }
  });
  /** Extra context for a completion in `uri`: definitions first, then edited documents, then viewed chunks. */
  const contextFor = (uri: string) => {
    const listed = chunks.list().filter((c) => c.uri !== uri);
    const asSource = (c: (typeof listed)[number]) => ({ uri: c.uri, languageId: c.languageId, text: c.text, focusLine: 0 });
    return [...listed.filter((c) => c.kind === 'definition').map(asSource), ...documents.others(uri), ...listed.filter((c) => c.kind === 'viewed').map(asSource)];
  };

  connection.onInitialize((params): InitializeResult => {
    const options = (params.initializationOptions ?? {}) as InitializationOptions;
    settings = mergeSettings(settings, options.settings);
    return {
      capabilities: {
        textDocumentSync: { openClose: true, change: TextDocumentSyncKind.Incremental },
        inlineCompletionProvider: true,
        experimental: { tramontane: { protocolVersion: PROTOCOL_VERSION } },
      },
      serverInfo: { name: 'tramontane', version: '0.1.0' },
    };
  });

  connection.onInitialized(() => {
    services = load();
    services.catch(() => undefined); // reported through the status; requests see the error
  });

  async function load(): Promise<Services> {
    setStatus(status);
    let lastSent = -1;
    const report = (fraction: number) => {
      status = { ...status, progress: fraction };
      if (fraction - lastSent >= 0.02 || (fraction === 1 && lastSent < 1)) {
        lastSent = fraction;
        void connection.sendNotification(LoadProgressNotification, { fraction } satisfies LoadProgressParams);
      }
    };
    report(loader.progress);
    loader.onProgress(report);
    try {
      const backend = await loader.promise;
      const completions = new CompletionService(backend, settings, stats);
      const chat = new ChatService(backend, settings, (uri) => documents.get(uri));
      ready = { backend, completions, chat };
      const remoteModel = backend instanceof RemoteBackend ? backend.model : undefined;
      readyStatus = { ...status, state: 'ready', backend: backend.kind, progress: 1, template: completions.templateName, chatTemplate: backend.chatTemplate, remoteModel, notice: backend.notice };
      setStatus(readyStatus);
      if (backend.notice) connection.console.warn(backend.notice);
      if (remoteModel && completions.templateName === 'prefix-only') {
        connection.console.warn(
          `the remote model "${remoteModel}" has no known fill-in-the-middle template: prompts hold the text before the cursor only; set tramontane.completion.fimTemplate, or tramontane.remote.fim to prompt+suffix if the server applies the model's own`,
        );
      }
      return ready;
    } catch (error) {
      const message = firstLine(error);
      setStatus({ ...status, state: 'error', error: message });
      connection.console.error(`model failed to load: ${message}`);
      throw error;
    }
  }

  async function model(): Promise<Services> {
    if (!services) throw requestFailed('the server is not initialized yet');
    try {
      return await services;
    } catch (error) {
      throw requestFailed(`model failed to load: ${firstLine(error)}`);
    }
  }

  connection.onDidChangeConfiguration((change) => {
    const section = (change.settings as { tramontane?: Partial<Settings> } | undefined)?.tramontane;
    if (!section) return;
    try {
      settings = mergeSettings(settings, section);
      ready?.completions.configure(settings);
      ready?.chat.configure(settings);
    } catch (error) {
      // A notification, not window/showMessageRequest: a client without that request
      // would answer with an error that nobody waits for.
      void connection.sendNotification(ShowMessageNotification.type, { type: MessageType.Error, message: `Tramontane: ${firstLine(error)}` });
    }
  });

  connection.languages.inlineCompletion.on(async (params: InlineCompletionParams, token): Promise<InlineCompletionList> => {
    const doc = documents.get(params.textDocument?.uri);
    if (!doc) throw unknownDocument(params.textDocument?.uri);
    const position = checkPosition(doc, params.position);
    const { completions } = await model();
    documents.focus(doc.uri, position);
    const item = (text: string, replace = 0): InlineCompletionItem => {
      const range: Range = { start: position, end: { line: position.line, character: position.character + replace } };
      return { insertText: text, range };
    };
    const partialToken = params.partialResultToken;
    let answer;
    try {
      answer = await completions.complete({
        doc,
        position,
        others: () => contextFor(doc.uri),
        contextVersion: chunks.version,
        signal: abortSignalOf(token),
        onPartial: partialToken === undefined ? undefined : (text, replace) => void connection.sendProgress(completionProgress, partialToken, [item(text, replace)]),
      });
    } catch (error) {
      remoteAnswered(error);
      throw requestFailed(`engine error: ${firstLine(error)}`);
    }
    if (answer.kind === 'suggestion' && stats.recent(1)[0]?.outcome !== 'cached') remoteAnswered();
    if (answer.kind === 'cancelled') throw cancelled();
    if (answer.kind === 'superseded' || answer.text === '') return { items: [] };
    return { items: [item(answer.text, answer.replace)] };
  });

  async function streamed(
    token: CancellationToken,
    partialToken: ChatParams['partialResultToken'],
    run: (svc: Services, signal: AbortSignal, onDelta: (delta: string) => void) => Promise<ChatResult>,
  ): Promise<ChatResult> {
    const svc = await model();
    const signal = abortSignalOf(token);
    const onDelta = (delta: string) => {
      if (partialToken !== undefined) void connection.sendProgress(chatProgress, partialToken, { delta });
    };
    let result: ChatResult;
    try {
      result = await run(svc, signal, onDelta);
    } catch (error) {
      if (signal.aborted) throw cancelled();
      const message = firstLine(error);
      if (/unknown document|roles must alternate|must end with a user|conversation is empty|no text content|kept out of prompts/.test(message)) throw invalidParams(message);
      throw requestFailed(`engine error: ${message}`);
    }
    if (result.finish === 'cancelled') throw cancelled();
    return result;
  }

  connection.onRequest(ChatRequest, (params: ChatParams, token: CancellationToken) => {
    if (!params || !Array.isArray(params.messages)) throw invalidParams('tramontane/chat needs messages: [{role, content}, …]');
    return streamed(token, params.partialResultToken, (svc, signal, onDelta) => svc.chat.chat(params, { signal, onDelta }));
  });

  connection.onRequest(ExplainRequest, (params: ExplainParams, token: CancellationToken) => {
    if (!params || typeof params.uri !== 'string') throw invalidParams('tramontane/explain needs a uri');
    const doc = documents.get(params.uri);
    if (!doc) throw unknownDocument(params.uri);
    if (params.range) {
      checkPosition(doc, params.range.start);
      checkPosition(doc, params.range.end);
    }
    return streamed(token, params.partialResultToken, (svc, signal, onDelta) => svc.chat.explain(params, { signal, onDelta }));
  });

  connection.onRequest(StatsRequest, (params: StatsParams | undefined): StatsResult => ({
    completions: stats.recent(params?.limit),
    chat: ready ? { ...ready.chat.counts } : undefined,
  }));

  connection.onRequest(GetStatusRequest, (): ModelStatus => status);

  connection.onRequest(PingRequest, (): PingResult => ({}));

  connection.listen();
}
