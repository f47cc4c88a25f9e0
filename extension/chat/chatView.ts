// The chat side panel: a WebviewView that shows the conversation, streams answers into
// it, and carries out what its buttons ask (copy, insert at the cursor, open a link).
import { randomUUID } from 'node:crypto';
import * as vscode from 'vscode';
import type { CodeContext } from '../../server/protocol';
import { chatPage } from './html';
import type { Attachment, ChatHistory } from './history';
import type { ChatBackend } from './lspChat';
import type { HostToView, ViewToHost } from './messages';
import { PendingMessages } from './pending';

export const CHAT_VIEW_ID = 'tramontane.chat';

/** Characters of a whole file attached as context (the server clips to its budget too). */
const MAX_FILE_CHARS = 24_000;

interface Target {
  editor: vscode.TextEditor;
  range?: vscode.Range;
  attachment: Attachment;
}

/** Editors on documents the server has (it syncs files and untitled buffers only). */
function isSource(editor: vscode.TextEditor | undefined): editor is vscode.TextEditor {
  return !!editor && (editor.document.uri.scheme === 'file' || editor.document.uri.scheme === 'untitled');
}

function describe(editor: vscode.TextEditor, range: vscode.Range | undefined): string {
  const name = vscode.workspace.asRelativePath(editor.document.uri, false);
  if (!range) return name;
  const first = range.start.line + 1;
  const last = range.end.character === 0 && range.end.line > range.start.line ? range.end.line : range.end.line + 1;
  return first === last ? `${name}:${first}` : `${name}:${first}-${last}`;
}

export class ChatViewProvider implements vscode.WebviewViewProvider, vscode.Disposable {
  private view: vscode.WebviewView | undefined;
  private viewReady = false;
  private readonly queue = new PendingMessages();
  private running: vscode.CancellationTokenSource | undefined;
  /** The answer being streamed, so a panel opened mid-answer picks it up. */
  private inflight: { id: string; text: string } | undefined;
  private lastEditor: vscode.TextEditor | undefined;
  private statusLine: { text: string; ready: boolean; note?: string } = { text: '', ready: false };
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly history: ChatHistory,
    private readonly backend: ChatBackend,
    private readonly protocolUri: (uri: vscode.Uri) => string,
    private readonly log: vscode.LogOutputChannel,
    /** An answer started (true) or ended (false): the status bar shows "generating". */
    private readonly onActivity: (active: boolean) => void = () => undefined,
  ) {
    if (isSource(vscode.window.activeTextEditor)) this.lastEditor = vscode.window.activeTextEditor;
    this.disposables.push(
      vscode.window.onDidChangeActiveTextEditor((editor) => {
        // Focus moving into the panel (or the output view) leaves no source editor; keep the last one.
        if (isSource(editor)) this.lastEditor = editor;
        this.postContext();
      }),
      vscode.window.onDidChangeTextEditorSelection((event) => {
        if (event.textEditor === this.lastEditor) this.postContext();
      }),
    );
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    this.view = view;
    this.viewReady = false;
    const media = vscode.Uri.joinPath(this.extensionUri, 'media');
    const dist = vscode.Uri.joinPath(this.extensionUri, 'dist');
    view.webview.options = { enableScripts: true, localResourceRoots: [media, dist] };
    view.webview.html = chatPage({
      cspSource: view.webview.cspSource,
      scriptUri: view.webview.asWebviewUri(vscode.Uri.joinPath(dist, 'webview.js')).toString(),
      styleUri: view.webview.asWebviewUri(vscode.Uri.joinPath(media, 'chat.css')).toString(),
    });
    view.webview.onDidReceiveMessage((message: ViewToHost) => this.receive(message), undefined, this.disposables);
    view.onDidDispose(() => {
      if (this.view === view) {
        this.view = undefined;
        this.viewReady = false;
      }
    });
  }

  /** Shows the panel (resolving it if needed). */
  async reveal(): Promise<void> {
    await vscode.commands.executeCommand(`${CHAT_VIEW_ID}.focus`);
  }

  setStatus(text: string, ready: boolean, note?: string): void {
    this.statusLine = { text, ready, note };
    this.post({ type: 'status', ...this.statusLine });
  }

  /** Streams an explanation of the selection (or the whole file) into the panel. */
  async explain(editor: vscode.TextEditor): Promise<void> {
    this.lastEditor = editor;
    const target = this.target(editor);
    await this.reveal();
    this.stop();
    const question = { id: randomUUID(), role: 'user' as const, content: 'Explain this code.', attachment: target.attachment };
    await this.history.add(question);
    this.post({ type: 'append', message: { id: question.id, role: 'user', content: question.content, contextLabel: target.attachment.label } });
    await this.answer((onDelta, token) =>
      this.backend.explain({ uri: this.protocolUri(editor.document.uri), range: target.range && this.lspRange(target.range) }, onDelta, token),
    );
  }

  /** Sends a question typed in the panel (or given by a command). */
  async ask(text: string, includeContext: boolean): Promise<void> {
    this.stop();
    const target = includeContext && this.lastEditor && !this.lastEditor.document.isClosed ? this.target(this.lastEditor) : undefined;
    const question = { id: randomUUID(), role: 'user' as const, content: text, attachment: target?.attachment };
    await this.history.add(question);
    this.post({ type: 'append', message: { id: question.id, role: 'user', content: text, contextLabel: target?.attachment.label } });
    const context: CodeContext | undefined = target && {
      uri: this.protocolUri(target.editor.document.uri),
      languageId: target.editor.document.languageId,
      range: target.range && this.lspRange(target.range),
    };
    const messages = this.history.requestMessages(question.id);
    await this.answer((onDelta, token) => this.backend.chat({ messages, context }, onDelta, token));
  }

  stop(): void {
    this.running?.cancel();
  }

  async newChat(): Promise<void> {
    this.stop();
    await this.history.clear();
    this.post({ type: 'history', messages: [], busy: false });
  }

  dispose(): void {
    this.stop();
    for (const d of this.disposables) d.dispose();
  }

  private async answer(
    run: (onDelta: (text: string) => void, token: vscode.CancellationToken) => Promise<{ text: string; finish: string }>,
  ): Promise<void> {
    const id = randomUUID();
    const source = new vscode.CancellationTokenSource();
    this.running = source;
    let text = '';
    const inflight = { id, text };
    this.inflight = inflight;
    await this.history.add({ id, role: 'assistant', content: '' });
    this.post({ type: 'append', message: { id, role: 'assistant', content: '', pending: true } });
    this.post({ type: 'busy', busy: true });
    void vscode.commands.executeCommand('setContext', 'tramontane.chatBusy', true);
    this.onActivity(true);
    let note: string | undefined;
    try {
      const result = await run((delta) => {
        text += delta;
        inflight.text = text;
        this.post({ type: 'delta', id, delta });
      }, source.token);
      text = result.text;
      if (result.finish === 'length') note = 'Stopped at the answer length limit (tramontane.chat.maxTokens).';
      if (result.finish === 'cancelled') note = 'Stopped.';
      if (result.finish === 'repetition') note = 'Stopped: the answer began to repeat itself.';
    } catch (error) {
      if (source.token.isCancellationRequested) {
        note = 'Stopped.';
      } else {
        const message = error instanceof Error ? error.message : String(error);
        this.log.error(`chat request failed: ${message}`);
        note = `No answer: ${message}`;
      }
    } finally {
      if (this.running === source) this.running = undefined;
      if (this.inflight === inflight) this.inflight = undefined;
      source.dispose();
      this.onActivity(false);
    }
    // The stop button goes before the answer shows as finished.
    if (!this.running) await vscode.commands.executeCommand('setContext', 'tramontane.chatBusy', false);
    await this.history.finish(id, text, note);
    this.post({ type: 'done', id, content: text, note });
    if (!this.running) this.post({ type: 'busy', busy: false });
  }

  private target(editor: vscode.TextEditor): Target {
    const document = editor.document;
    const selection = editor.selection;
    const range = selection.isEmpty ? undefined : new vscode.Range(selection.start, selection.end);
    const code = range ? document.getText(range) : document.getText().slice(0, MAX_FILE_CHARS);
    return { editor, range, attachment: { label: describe(editor, range), languageId: document.languageId, code } };
  }

  private lspRange(range: vscode.Range) {
    return {
      start: { line: range.start.line, character: range.start.character },
      end: { line: range.end.line, character: range.end.character },
    };
  }

  private async receive(message: ViewToHost): Promise<void> {
    switch (message.type) {
      case 'ready':
        this.viewReady = true;
        this.post({
          type: 'history',
          messages: this.history
            .view()
            .map((m) => (m.id === this.inflight?.id ? { ...m, content: this.inflight.text, pending: true } : m)),
          busy: !!this.running,
        });
        this.post({ type: 'status', ...this.statusLine });
        this.postContext();
        for (const queued of this.queue.drain()) void this.view?.webview.postMessage(queued);
        break;
      case 'send':
        await this.ask(message.text, message.includeContext);
        break;
      case 'stop':
        this.stop();
        break;
      case 'copy':
        await vscode.env.clipboard.writeText(message.code);
        void vscode.window.setStatusBarMessage('Tramontane: code copied', 2000);
        break;
      case 'insert':
        await this.insert(message.code);
        break;
      case 'openLink':
        if (/^(https?:|mailto:)/i.test(message.href)) await vscode.env.openExternal(vscode.Uri.parse(message.href));
        break;
    }
  }

  private async insert(code: string): Promise<void> {
    const editor = this.lastEditor;
    if (!editor || editor.document.isClosed) {
      void vscode.window.showInformationMessage('Open an editor to insert the code into.');
      return;
    }
    const shown = await vscode.window.showTextDocument(editor.document, editor.viewColumn);
    await shown.edit((edit) => {
      for (const selection of shown.selections) edit.replace(selection, code);
    });
  }

  private postContext(): void {
    const editor = this.lastEditor;
    if (!editor || editor.document.isClosed) {
      this.post({ type: 'context' });
      return;
    }
    const range = editor.selection.isEmpty ? undefined : editor.selection;
    this.post({ type: 'context', label: range ? `selection ${describe(editor, range)}` : `file ${describe(editor, undefined)}` });
  }

  private post(message: HostToView): void {
    if (!this.view || !this.viewReady) {
      // Deltas of an answer the panel never saw are replayed through `history` instead.
      if (message.type === 'append' || message.type === 'delta' || message.type === 'done' || message.type === 'history') return;
      this.queue.put(message);
      return;
    }
    void this.view.webview.postMessage(message);
  }
}
