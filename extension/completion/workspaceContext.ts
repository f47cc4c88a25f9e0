// Tells the server what else the user is working with, for the prompt's extra context:
// the definitions of the symbols near the cursor, from VS Code's own definition
// providers (whatever language extension resolves them), each time the cursor comes to
// another line; and chunks of other files as the user looks at them. The server keeps
// them in a ring and chooses from it only when the cursor changes line, so typing on
// one line still reuses the whole prompt.
import * as vscode from 'vscode';
import { ContextChunksNotification, type ContextChunk } from '../../server/protocol';

const DEFINITION_LINES = 12;
const VIEWED_LINES = 30;
const MAX_SYMBOLS = 6;
const LINES_AROUND = 2;
const IDENTIFIER = /[A-Za-z_][A-Za-z0-9_]*/g;
// Words no definition provider resolves to user code.
const COMMON = new Set([
  'def', 'class', 'return', 'if', 'else', 'elif', 'for', 'while', 'in', 'import', 'from', 'as', 'self', 'None', 'True', 'False',
  'const', 'let', 'var', 'function', 'new', 'this', 'true', 'false', 'null', 'undefined', 'export', 'async', 'await', 'int', 'str',
]);

export interface NotificationSender {
  sendNotification(method: string, params: unknown): Promise<void>;
}

type Definition = vscode.Location | vscode.LocationLink;

function linesOf(document: vscode.TextDocument, first: number, count: number): string {
  const last = Math.min(document.lineCount - 1, first + count - 1);
  return document.getText(new vscode.Range(first, 0, last, document.lineAt(last).text.length));
}

export class WorkspaceContext implements vscode.Disposable {
  private readonly disposables: vscode.Disposable[] = [];
  private lastLine = '';
  private definitionTimer: ReturnType<typeof setTimeout> | undefined;
  private viewedTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly client: () => NotificationSender | undefined,
    private readonly protocolUri: (uri: vscode.Uri) => string,
  ) {
    this.disposables.push(
      vscode.window.onDidChangeTextEditorSelection((event) => {
        if (event.textEditor !== vscode.window.activeTextEditor) return;
        const key = `${event.textEditor.document.uri.toString()}:${event.selections[0].active.line}`;
        if (key === this.lastLine) return;
        this.lastLine = key;
        clearTimeout(this.definitionTimer);
        this.definitionTimer = setTimeout(() => void this.sendDefinitions(event.textEditor), 250);
      }),
      vscode.window.onDidChangeTextEditorVisibleRanges((event) => {
        clearTimeout(this.viewedTimer);
        this.viewedTimer = setTimeout(() => this.sendViewed(event.textEditor), 1000);
      }),
      vscode.window.onDidChangeActiveTextEditor((editor) => {
        if (editor) this.sendViewed(editor);
      }),
    );
  }

  private send(chunks: ContextChunk[]): void {
    if (chunks.length > 0) void this.client()?.sendNotification(ContextChunksNotification, { chunks }).catch(() => undefined);
  }

  private isFile(document: vscode.TextDocument): boolean {
    return document.uri.scheme === 'file' || document.uri.scheme === 'untitled';
  }

  /** What the user sees of a file: the middle of its visible range. */
  private sendViewed(editor: vscode.TextEditor): void {
    const document = editor.document;
    const visible = editor.visibleRanges[0];
    if (!visible || !this.isFile(document)) return;
    const middle = Math.floor((visible.start.line + visible.end.line) / 2);
    const first = Math.max(0, middle - VIEWED_LINES / 2);
    this.send([{ uri: this.protocolUri(document.uri), languageId: document.languageId, text: linesOf(document, first, VIEWED_LINES), kind: 'viewed' }]);
  }

  /** Definitions, in other files, of the identifiers on the cursor's line and the lines above it. */
  private async sendDefinitions(editor: vscode.TextEditor): Promise<void> {
    const document = editor.document;
    if (!this.isFile(document) || editor.document.isClosed) return;
    const line = editor.selection.active.line;
    const positions: vscode.Position[] = [];
    const seen = new Set<string>();
    for (let l = line; l >= Math.max(0, line - LINES_AROUND) && positions.length < MAX_SYMBOLS; l--) {
      for (const match of document.lineAt(l).text.matchAll(IDENTIFIER)) {
        if (COMMON.has(match[0]) || seen.has(match[0])) continue;
        seen.add(match[0]);
        positions.push(new vscode.Position(l, match.index!));
        if (positions.length >= MAX_SYMBOLS) break;
      }
    }
    const chunks: ContextChunk[] = [];
    const taken = new Set<string>();
    for (const position of positions) {
      let found: Definition[] | undefined;
      try {
        found = await vscode.commands.executeCommand<Definition[]>('vscode.executeDefinitionProvider', document.uri, position);
      } catch {
        continue; // no provider for this language, or it failed: no context from it
      }
      for (const definition of found ?? []) {
        const uri = 'targetUri' in definition ? definition.targetUri : definition.uri;
        const range = 'targetRange' in definition ? definition.targetRange : definition.range;
        const key = `${uri.toString()}:${range.start.line}`;
        if (uri.toString() === document.uri.toString() || taken.has(key)) continue;
        taken.add(key);
        const target = await vscode.workspace.openTextDocument(uri).then(
          (d) => d,
          () => undefined,
        );
        if (!target) continue;
        chunks.push({ uri: this.protocolUri(uri), languageId: target.languageId, text: linesOf(target, range.start.line, DEFINITION_LINES), kind: 'definition' });
      }
    }
    this.send(chunks);
  }

  dispose(): void {
    clearTimeout(this.definitionTimer);
    clearTimeout(this.viewedTimer);
    for (const d of this.disposables) d.dispose();
  }
}
