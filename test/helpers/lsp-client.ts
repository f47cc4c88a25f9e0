// A real LSP client for tests: spawns `tramontane serve --stdio …` and talks JSON-RPC
// to it through vscode-languageserver-protocol's node connection, the library VS
// Code's own client is built on.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import {
  CancellationTokenSource,
  DidChangeTextDocumentNotification,
  DidCloseTextDocumentNotification,
  DidOpenTextDocumentNotification,
  ExitNotification,
  InitializedNotification,
  InitializeRequest,
  InlineCompletionRequest,
  InlineCompletionTriggerKind,
  NotificationType,
  ProgressType,
  ShutdownRequest,
  type InlineCompletionItem,
  type InlineCompletionList,
  type Position,
  type ProtocolConnection,
  type Range,
} from 'vscode-languageserver-protocol/node';
import { connectToChild } from '../../server/lsp/child-connection';
import {
  ChatRequest,
  ExplainRequest,
  GetStatusRequest,
  LoadProgressNotification,
  ModelStatusNotification,
  StatsRequest,
  type ChatChunk,
  type ChatParams,
  type ChatResult,
  type CompletionStats,
  type ExplainParams,
  type InlineCompletionPartial,
  type LoadProgressParams,
  type ModelStatus,
  type Settings,
  type StatsResult,
} from '../../server/protocol';
import { ROOT } from './tokenizers';

let nextToken = 0;

export class LspClient {
  readonly statuses: ModelStatus[] = [];
  readonly progress: number[] = [];
  stderr = '';
  private versions = new Map<string, number>();
  private texts = new Map<string, string>();

  private constructor(
    readonly process: ChildProcess,
    readonly connection: ProtocolConnection,
  ) {}

  static async start(args: string[], settings: Partial<Settings> = {}): Promise<LspClient> {
    const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'tramontane.js'), 'serve', '--stdio', ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const connection = connectToChild(child);
    const client = new LspClient(child, connection);
    child.stderr!.on('data', (data: Buffer) => (client.stderr += data.toString()));
    connection.onNotification(new NotificationType<ModelStatus>(ModelStatusNotification), (status) => {
      client.statuses.push(status);
    });
    connection.onNotification(new NotificationType<LoadProgressParams>(LoadProgressNotification), (p) => {
      client.progress.push(p.fraction);
    });
    connection.onNotification('window/logMessage', () => undefined);
    connection.listen();
    await connection.sendRequest(InitializeRequest.type, {
      processId: process.pid,
      rootUri: null,
      capabilities: { textDocument: { inlineCompletion: { dynamicRegistration: false } } },
      initializationOptions: { settings },
    });
    await connection.sendNotification(InitializedNotification.type, {});
    return client;
  }

  /** Resolves once the model is ready (or rejects with its load error). */
  async ready(): Promise<ModelStatus> {
    for (;;) {
      const status = await this.connection.sendRequest<ModelStatus>(GetStatusRequest, {});
      if (status.state === 'ready') return status;
      if (status.state === 'error') throw new Error(status.error);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  open(uri: string, text: string, languageId = 'typescript'): void {
    this.versions.set(uri, 1);
    this.texts.set(uri, text);
    void this.connection.sendNotification(DidOpenTextDocumentNotification.type, { textDocument: { uri, languageId, version: 1, text } });
  }

  close(uri: string): void {
    void this.connection.sendNotification(DidCloseTextDocumentNotification.type, { textDocument: { uri } });
  }

  text(uri: string): string {
    return this.texts.get(uri)!;
  }

  /** Inserts `text` at `position` as an incremental change. */
  insert(uri: string, position: Position, text: string): void {
    this.replace(uri, { start: position, end: position }, text);
  }

  replace(uri: string, range: Range, text: string): void {
    // The message is written later: a caller mutating its position must not move the edit.
    range = structuredClone(range);
    const version = this.versions.get(uri)! + 1;
    this.versions.set(uri, version);
    const old = this.texts.get(uri)!;
    this.texts.set(uri, old.slice(0, offsetOf(old, range.start)) + text + old.slice(offsetOf(old, range.end)));
    void this.connection.sendNotification(DidChangeTextDocumentNotification.type, {
      textDocument: { uri, version },
      contentChanges: [{ range, text }],
    });
  }

  async complete(
    uri: string,
    position: Position,
    options: { onPartial?: (items: InlineCompletionItem[]) => void; cancel?: CancellationTokenSource } = {},
  ): Promise<InlineCompletionList | InlineCompletionItem[] | null> {
    let partialResultToken: string | undefined;
    if (options.onPartial) {
      partialResultToken = `completion-${++nextToken}`;
      this.connection.onProgress(new ProgressType<InlineCompletionPartial>(), partialResultToken, options.onPartial);
    }
    return this.connection.sendRequest(
      InlineCompletionRequest.type,
      { textDocument: { uri }, position, context: { triggerKind: InlineCompletionTriggerKind.Automatic }, partialResultToken },
      options.cancel?.token,
    );
  }

  async chat(params: ChatParams, onDelta?: (delta: string) => void, cancel?: CancellationTokenSource): Promise<ChatResult> {
    const token = `chat-${++nextToken}`;
    if (onDelta) this.connection.onProgress(new ProgressType<ChatChunk>(), token, (chunk) => onDelta(chunk.delta));
    const request = { ...params, partialResultToken: token };
    // A trailing undefined would be sent as a second parameter: pass the token only when there is one.
    return cancel ? this.connection.sendRequest<ChatResult>(ChatRequest, request, cancel.token) : this.connection.sendRequest<ChatResult>(ChatRequest, request);
  }

  async explain(params: ExplainParams, onDelta?: (delta: string) => void): Promise<ChatResult> {
    const token = `explain-${++nextToken}`;
    if (onDelta) this.connection.onProgress(new ProgressType<ChatChunk>(), token, (chunk) => onDelta(chunk.delta));
    return this.connection.sendRequest<ChatResult>(ExplainRequest, { ...params, partialResultToken: token });
  }

  async stats(limit?: number): Promise<CompletionStats[]> {
    return (await this.connection.sendRequest<StatsResult>(StatsRequest, { limit })).completions;
  }

  async lastStats(): Promise<CompletionStats> {
    return (await this.stats(1))[0];
  }

  async stop(): Promise<void> {
    const exited = new Promise<void>((resolve) => {
      if (this.process.exitCode !== null) resolve();
      else this.process.once('exit', () => resolve());
    });
    try {
      await Promise.race([this.connection.sendRequest(ShutdownRequest.type), new Promise((r) => setTimeout(r, 2000))]);
      await this.connection.sendNotification(ExitNotification.type);
    } catch {
      // already gone
    }
    const timer = setTimeout(() => this.process.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
    this.connection.dispose();
  }
}

export function itemsOf(result: InlineCompletionList | InlineCompletionItem[] | null): InlineCompletionItem[] {
  if (!result) return [];
  return Array.isArray(result) ? result : result.items;
}

export function offsetOf(text: string, position: Position): number {
  let offset = 0;
  for (let line = 0; line < position.line; line++) {
    const next = text.indexOf('\n', offset);
    if (next < 0) return text.length;
    offset = next + 1;
  }
  return offset + position.character;
}

export function positionAt(text: string, offset: number): Position {
  const before = text.slice(0, offset);
  const line = before.split('\n').length - 1;
  return { line, character: offset - (before.lastIndexOf('\n') + 1) };
}
