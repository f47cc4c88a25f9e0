// The quick menu behind the status bar item.
import * as vscode from 'vscode';
import type { CompletionGate } from '../completion/gate';
import { isLanguageEnabled, KEYS, type ExtensionSettings } from '../settings';

type Item = vscode.QuickPickItem & { command?: string; run?: () => unknown };

export async function showMenu(gate: CompletionGate, settings: ExtensionSettings): Promise<void> {
  const state = gate.state();
  const language = vscode.window.activeTextEditor?.document.languageId;
  const items: Item[] = [];
  if (state.kind === 'on') {
    items.push(
      { label: '$(circle-slash) Turn inline completions off', run: () => gate.setEnabled(false) },
      { label: '$(clock) Snooze for 15 minutes', run: () => gate.snooze(15) },
      { label: '$(clock) Snooze for an hour', run: () => gate.snooze(60) },
    );
  } else {
    items.push({ label: '$(check) Turn inline completions on', run: () => gate.setEnabled(true) });
  }
  if (language) {
    const enabled = isLanguageEnabled(settings, language);
    items.push({
      label: enabled ? `$(eye-closed) Turn off for ${language}` : `$(eye) Turn on for ${language}`,
      run: async () => {
        const config = vscode.workspace.getConfiguration('tramontane');
        const languages = { ...settings.enabledLanguages, [language]: !enabled };
        await config.update(KEYS.enabledLanguages, languages, vscode.ConfigurationTarget.Global);
      },
    });
  }
  items.push(
    { label: '', kind: vscode.QuickPickItemKind.Separator },
    { label: '$(comment-discussion) Open chat', command: 'tramontane.chat.focus' },
    { label: '$(file-directory) Select model…', command: 'tramontane.selectModel' },
    { label: '$(debug-restart) Restart server', command: 'tramontane.restartServer' },
    { label: '$(output) Show log', command: 'tramontane.showLog' },
    { label: '$(gear) Settings', run: () => vscode.commands.executeCommand('workbench.action.openSettings', '@ext:tramontane.tramontane') },
  );
  const choice = await vscode.window.showQuickPick(items, { title: 'Tramontane' });
  if (!choice) return;
  if (choice.command) await vscode.commands.executeCommand(choice.command);
  else await choice.run?.();
}
