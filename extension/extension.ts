// Activation: starts the server, registers ghost text, the chat panel, the commands and
// the status bar, and keeps them in step with the settings.
import * as vscode from 'vscode';
import { ChatViewProvider, CHAT_VIEW_ID } from './chat/chatView';
import { ChatHistory } from './chat/history';
import { LspChatBackend } from './chat/lspChat';
import { showMenu } from './commands/menu';
import { selectModel } from './commands/selectModel';
import { InlineCompletionController } from './completion/controller';
import { CompletionGate } from './completion/gate';
import { LspCompletionBackend } from './completion/lspBackend';
import { WorkspaceContext } from './completion/workspaceContext';
import { dismissGhostText, refreshGhostText, TramontaneInlineProvider } from './completion/provider';
import { readSettings, needsRestart, userLookup, type ExtensionSettings } from './settings';
import { Sidecar, type SidecarState } from './sidecar/sidecar';
import { modelName } from './status/format';
import { StatusBar } from './status/statusBar';

const DEMO_NOTICE_KEY = 'tramontane.demoNoticeDismissed';
const REMOTE_TOKEN_KEY = 'tramontane.remoteToken';
// What the chat panel says of the embedded model (measured in models/default/README.md).
const DEMO_MODEL_NOTE =
  'The built-in demo model (20M parameters) explains code in one sentence, often vague or wrong; code it writes seldom works. For real answers: "Tramontane: Select Model".';

let activeSidecar: Sidecar | undefined;

function loadSettings(): ExtensionSettings {
  return readSettings(userLookup(vscode.workspace.getConfiguration('tramontane')));
}

export function activate(context: vscode.ExtensionContext): void {
  const log = vscode.window.createOutputChannel('Tramontane', { log: true });
  context.subscriptions.push(log);
  let settings = loadSettings();
  const embedded = () => !settings.modelPath && settings.backend !== 'remote';

  const sidecar = new Sidecar({
    cliPath: context.asAbsolutePath('dist/cli.js'),
    log,
    settings: () => settings,
    remoteToken: () => context.secrets.get(REMOTE_TOKEN_KEY),
  });
  activeSidecar = sidecar;
  const gate = new CompletionGate(context.globalState, () => settings);
  const statusBar = new StatusBar(sidecar, gate, embedded, log);
  context.subscriptions.push(sidecar, gate, statusBar);

  const protocolUri = (uri: vscode.Uri) => sidecar.running?.code2ProtocolConverter.asUri(uri) ?? uri.toString();

  // Ghost text.
  let lastError = '';
  const controller = new InlineCompletionController(new LspCompletionBackend(() => sidecar.running), {
    debounceMs: () => settings.debounceMs,
    orphanGraceMs: 1000,
    refreshMs: 50,
    refresh: (uri) => refreshGhostText(protocolUri, uri),
    onActivity: (active) => {
      statusBar.activity(active);
      if (!active) void statusBar.refreshStats();
    },
    onError: (error) => {
      const message = error instanceof Error ? error.message : String(error);
      // A server that is still loading refuses every keystroke's request: log it once.
      if (message !== lastError) log.warn(`inline completion failed: ${message}`);
      lastError = message;
    },
  });
  context.subscriptions.push(
    controller,
    vscode.languages.registerInlineCompletionItemProvider(
      [{ scheme: 'file' }, { scheme: 'untitled' }],
      new TramontaneInlineProvider(controller, gate, protocolUri),
    ),
    gate.onChange(() => {
      if (gate.state().kind !== 'on') controller.stop();
    }),
    vscode.commands.registerCommand('tramontane.dismissSuggestion', () => dismissGhostText(controller, protocolUri)),
    new WorkspaceContext(() => sidecar.running, protocolUri),
  );

  // Chat panel.
  const chat = new ChatViewProvider(
    context.extensionUri,
    new ChatHistory(context.workspaceState),
    new LspChatBackend(() => sidecar.running),
    protocolUri,
    log,
    (active) => statusBar.activity(active),
  );
  context.subscriptions.push(chat, vscode.window.registerWebviewViewProvider(CHAT_VIEW_ID, chat, { webviewOptions: { retainContextWhenHidden: true } }));

  // Commands.
  context.subscriptions.push(
    vscode.commands.registerCommand('tramontane.explainSelection', async () => {
      const editor = vscode.window.activeTextEditor;
      if (!editor || !['file', 'untitled'].includes(editor.document.uri.scheme)) {
        void vscode.window.showInformationMessage('Tramontane: open a file and select the code to explain.');
        return;
      }
      await chat.explain(editor);
    }),
    vscode.commands.registerCommand('tramontane.toggleInlineCompletions', async () => {
      const on = await gate.toggle();
      void vscode.window.setStatusBarMessage(`Tramontane: inline completions ${on ? 'on' : 'off'}`, 3000);
    }),
    vscode.commands.registerCommand('tramontane.snooze', async () => {
      const choice = await vscode.window.showQuickPick(
        [
          { label: '5 minutes', minutes: 5 },
          { label: '15 minutes', minutes: 15 },
          { label: '1 hour', minutes: 60 },
        ],
        { title: 'Snooze inline completions for' },
      );
      if (choice) gate.snooze(choice.minutes);
    }),
    vscode.commands.registerCommand('tramontane.selectModel', () => selectModel(context, settings)),
    vscode.commands.registerCommand('tramontane.restartServer', () => sidecar.restart()),
    vscode.commands.registerCommand('tramontane.setRemoteToken', async () => {
      const token = await vscode.window.showInputBox({
        title: 'Remote server API key',
        prompt: 'Bearer token for the remote OpenAI-compatible server (empty to remove it). Kept in VS Code\'s secret storage.',
        password: true,
        ignoreFocusOut: true,
      });
      if (token === undefined) return;
      if (token) await context.secrets.store(REMOTE_TOKEN_KEY, token.trim());
      else await context.secrets.delete(REMOTE_TOKEN_KEY);
      if (settings.backend === 'remote') await sidecar.restart();
    }),
    vscode.commands.registerCommand('tramontane.showLog', () => log.show()),
    vscode.commands.registerCommand('tramontane.showMenu', () => showMenu(gate, settings)),
    vscode.commands.registerCommand('tramontane.newChat', () => chat.newChat()),
    vscode.commands.registerCommand('tramontane.stopGeneration', () => chat.stop()),
  );

  // Settings: some go to the running server, others need a new process.
  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (!event.affectsConfiguration('tramontane')) return;
      const before = settings;
      settings = loadSettings();
      statusBar.update();
      if (needsRestart(before, settings)) {
        log.info('model settings changed: restarting the server');
        void sidecar.restart();
      } else {
        void sidecar.sendSettings(settings);
      }
    }),
  );

  // What the user is told, once per cause.
  let announced: SidecarState['kind'] | undefined;
  context.subscriptions.push(
    sidecar.onState((state) => {
      chat.setStatus(panelStatus(state, embedded()), state.kind === 'ready', state.kind === 'ready' && embedded() ? DEMO_MODEL_NOTE : undefined);
      if (state.kind === announced) return;
      announced = state.kind;
      if (state.kind === 'ready' && embedded() && !context.globalState.get(DEMO_NOTICE_KEY)) {
        void vscode.window
          .showInformationMessage(
            'Tramontane is using its small built-in demo model: good for trying it out, not for real work. Point it at Mistral weights with "Tramontane: Select Model".',
            'Select Model',
            "Don't Show Again",
          )
          .then(async (choice) => {
            if (choice === 'Select Model') await vscode.commands.executeCommand('tramontane.selectModel');
            if (choice === "Don't Show Again") await context.globalState.update(DEMO_NOTICE_KEY, true);
          });
      }
      if (state.kind === 'error') {
        const what = state.status ? `could not load the model (${state.status.model})` : 'could not start';
        const message = state.crashed ? state.message : `Tramontane ${what}: ${state.message}`;
        void vscode.window.showErrorMessage(message, 'Select Model', 'Show Log', 'Restart Server').then(async (choice) => {
          if (choice === 'Select Model') await vscode.commands.executeCommand('tramontane.selectModel');
          if (choice === 'Show Log') log.show();
          if (choice === 'Restart Server') await sidecar.restart();
        });
      }
    }),
  );

  void sidecar.start();
}

function panelStatus(state: SidecarState, embedded: boolean): string {
  switch (state.kind) {
    case 'ready':
      return `${modelName(state.status.model, embedded && state.status.backend !== 'remote')} · ${state.status.backend.toUpperCase()}`;
    case 'loading':
      return `Loading the model${state.progress === undefined ? '' : ` ${Math.round(state.progress * 100)}%`}…`;
    case 'error':
      return 'The model is not available: see the status bar.';
    case 'restarting':
      return 'Restarting the server…';
    default:
      return 'Starting…';
  }
}

/** Waits for the server to exit (VS Code does not wait for disposables). */
export async function deactivate(): Promise<void> {
  await activeSidecar?.stop();
  activeSidecar = undefined;
}
