// VS Code's side of ghost text: adapts the controller to InlineCompletionItemProvider.
import * as vscode from 'vscode';
import type { InlineCompletionController } from './controller';
import type { CompletionGate } from './gate';

export class TramontaneInlineProvider implements vscode.InlineCompletionItemProvider {
  constructor(
    private readonly controller: InlineCompletionController,
    private readonly gate: CompletionGate,
    private readonly protocolUri: (uri: vscode.Uri) => string,
  ) {}

  async provideInlineCompletionItems(
    document: vscode.TextDocument,
    position: vscode.Position,
    context: vscode.InlineCompletionContext,
    token: vscode.CancellationToken,
  ): Promise<vscode.InlineCompletionItem[] | undefined> {
    if (!this.gate.allows(document.languageId)) return undefined;
    const suggestion = await this.controller.provide(
      {
        uri: this.protocolUri(document.uri),
        text: document.getText(),
        offset: document.offsetAt(position),
        line: position.line,
        character: position.character,
        explicit: context.triggerKind === vscode.InlineCompletionTriggerKind.Invoke,
      },
      token,
    );
    if (!suggestion.text || token.isCancellationRequested) return undefined;
    // Auto-closed brackets after the cursor are part of what the suggestion replaces.
    const end = position.translate(0, suggestion.replace ?? 0);
    return [new vscode.InlineCompletionItem(suggestion.text, new vscode.Range(position, end))];
  }
}

/** Escape on ghost text: the suggestion is dismissed for good, then hidden as VS Code would. */
export async function dismissGhostText(controller: InlineCompletionController, protocolUri: (uri: vscode.Uri) => string): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  if (editor) {
    const document = editor.document;
    controller.dismiss({ uri: protocolUri(document.uri), text: document.getText(), offset: document.offsetAt(editor.selection.active) });
  }
  await vscode.commands.executeCommand('editor.action.inlineSuggest.hide');
}

/** Asks VS Code to call the provider again, when the document is in the active editor. */
export function refreshGhostText(protocolUri: (uri: vscode.Uri) => string, uri: string): void {
  const editor = vscode.window.activeTextEditor;
  if (!editor || protocolUri(editor.document.uri) !== uri) return;
  void vscode.commands.executeCommand('editor.action.inlineSuggest.trigger');
}
