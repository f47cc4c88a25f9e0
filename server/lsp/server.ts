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
import { ChatService } from '../chat/service';
import { CompletionService } from '../complete/service';
import {
  ChatRequest,
  DEFAULT_SETTINGS,
  ExplainRequest,
  GetStatusRequest,
  LoadProgressNotification,
  ModelStatusNotification,
  PROTOCOL_VERSION,
  StatsRequest,
  type ChatChunk,
  type ChatParams,
  type ChatResult,
  type ExplainParams,
  type InitializationOptions,
  type InlineCompletionPartial,
  type LoadProgressParams,
  type ModelStatus,
  type Settings,
  type StatsParams,
  type StatsResult,
} from '../protocol';
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
  const setStatus = (next: ModelStatus) => {
    status = next;
    void connection.sendNotification(ModelStatusNotification, status);
  };

  const documents = new OpenDocuments((uri) => ready?.completions.forget(uri));
  documents.listen(connection);

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
      setStatus({ ...status, state: 'ready', backend: backend.kind, progress: 1, template: completions.templateName, chatTemplate: backend.chatTemplate, notice: backend.notice });
      if (backend.notice) connection.console.warn(backend.notice);
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
    const range: Range = { start: position, end: position };
    const item = (text: string): InlineCompletionItem => ({ insertText: text, range });
    const partialToken = params.partialResultToken;
    let answer;
    try {
      answer = await completions.complete({
        doc,
        position,
        others: () => documents.others(doc.uri),
        signal: abortSignalOf(token),
        onPartial: partialToken === undefined ? undefined : (text) => void connection.sendProgress(completionProgress, partialToken, [item(text)]),
      });
    } catch (error) {
      throw requestFailed(`engine error: ${firstLine(error)}`);
    }
    if (answer.kind === 'cancelled') throw cancelled();
    if (answer.kind === 'superseded' || answer.text === '') return { items: [] };
    return { items: [item(answer.text)] };
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
      if (/unknown document|roles must alternate|must end with a user|conversation is empty|no text content/.test(message)) throw invalidParams(message);
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
  }));

  connection.onRequest(GetStatusRequest, (): ModelStatus => status);

  connection.listen();
}
