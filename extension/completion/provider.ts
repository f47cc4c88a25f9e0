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
    return [new vscode.InlineCompletionItem(suggestion.text, new vscode.Range(position, position))];
  }
}

/** Asks VS Code to call the provider again, when the document is in the active editor. */
export function refreshGhostText(protocolUri: (uri: vscode.Uri) => string, uri: string): void {
  const editor = vscode.window.activeTextEditor;
  if (!editor || protocolUri(editor.document.uri) !== uri) return;
  void vscode.commands.executeCommand('editor.action.inlineSuggest.trigger');
}
