// The server process and its language client: start, follow the model's status, restart
// with backoff when it dies (one notification, not one per crash) or stops answering
// (watchdog.ts), stop on request.
import { spawn, type ChildProcess } from 'node:child_process';
import readline from 'node:readline';
import * as vscode from 'vscode';
import { CloseAction, ErrorAction, State, type LanguageClientOptions, type MessageTransports } from 'vscode-languageclient/node';
import { childTransports } from '../../server/lsp/child-connection';
import {
  GetStatusRequest,
  LoadProgressNotification,
  ModelStatusNotification,
  PingRequest,
  type InitializationOptions,
  type LoadProgressParams,
  type ModelStatus,
} from '../../server/protocol';
import { serverSettings, type ExtensionSettings } from '../settings';
import { RestartPolicy } from './backoff';
import { SidecarClient } from './client';
import { launchProblem, launchSpec } from './launch';
import { Watchdog } from './watchdog';

export type SidecarState =
  | { kind: 'stopped' }
  | { kind: 'starting' }
  | { kind: 'loading'; progress?: number; status?: ModelStatus }
  | { kind: 'ready'; status: ModelStatus }
  | { kind: 'restarting'; delayMs: number; attempt: number }
  | { kind: 'error'; message: string; status?: ModelStatus; crashed?: boolean };

export interface SidecarOptions {
  /** dist/cli.js of the installed extension. */
  cliPath: string;
  log: vscode.LogOutputChannel;
  settings: () => ExtensionSettings;
  /** The remote backend's bearer token, if the user stored one. */
  remoteToken: () => Thenable<string | undefined>;
}

export class Sidecar implements vscode.Disposable {
  private client: SidecarClient | undefined;
  private child: ChildProcess | undefined;
  private generation = 0;
  private restartTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly policy = new RestartPolicy();
  private watchdog: Watchdog | undefined;
  private notifiedCrash = false;
  private lastStderr = '';
  private current: SidecarState = { kind: 'stopped' };
  private readonly stateEmitter = new vscode.EventEmitter<SidecarState>();
  readonly onState = this.stateEmitter.event;

  constructor(private readonly options: SidecarOptions) {}

  get state(): SidecarState {
    return this.current;
  }

  /** The client, while connected to a running server. */
  get running(): SidecarClient | undefined {
    return this.client?.state === State.Running ? this.client : undefined;
  }

  /** The server's process id, while it runs. */
  get pid(): number | undefined {
    return this.child?.exitCode === null ? this.child.pid : undefined;
  }

  async start(): Promise<void> {
    const generation = ++this.generation;
    const settings = this.options.settings();
    const problem = launchProblem(settings);
    if (problem) {
      this.setState({ kind: 'error', message: problem });
      return;
    }
    this.setState({ kind: 'starting' });
    const token = settings.backend === 'remote' ? await this.options.remoteToken() : undefined;
    if (generation !== this.generation) return;
    const spec = launchSpec(this.options.cliPath, settings, { execPath: process.execPath, env: process.env }, token);
    const log = this.options.log;
    // A server that exits before the LSP handshake completes was refused its arguments
    // (a bad model path, say): restarting would fail the same way, so say why instead.
    let initialized = false;

    const clientOptions: LanguageClientOptions = {
      documentSelector: [{ scheme: 'file' }, { scheme: 'untitled' }],
      outputChannel: log,
      initializationOptions: { settings: serverSettings(settings) } satisfies InitializationOptions,
      errorHandler: {
        error: () => ({ action: ErrorAction.Continue, handled: true }),
        closed: () => {
          if (generation === this.generation && initialized) this.died(generation);
          return { action: CloseAction.DoNotRestart, handled: true };
        },
      },
    };
    const client = new SidecarClient(
      'tramontane',
      'Tramontane',
      () => this.spawnServer(spec.command, spec.args, spec.env),
      clientOptions,
    );
    this.client = client;
    client.onNotification(ModelStatusNotification, (status: ModelStatus) => {
      if (generation === this.generation) this.modelStatus(status);
    });
    client.onNotification(LoadProgressNotification, (params: LoadProgressParams) => {
      if (generation !== this.generation) return;
      if (this.current.kind === 'loading') this.setState({ ...this.current, progress: params.fraction });
      else if (this.current.kind === 'starting') this.setState({ kind: 'loading', progress: params.fraction });
    });

    let startError: unknown;
    try {
      await client.start();
    } catch (error) {
      startError = error;
    }
    if (generation !== this.generation) return;
    // start() can also resolve with the client stopped (the server hung up mid-handshake).
    if (startError !== undefined || !client.isRunning()) {
      // The process may still be writing its last words to stderr.
      await new Promise((resolve) => setTimeout(resolve, 100));
      if (generation !== this.generation) return;
      const fallback = startError instanceof Error ? startError.message : 'the server exited during start-up';
      const reason = (this.lastStderr || fallback).replace(/^tramontane: /, '');
      log.error(`server failed to start: ${reason}`);
      this.client = undefined;
      this.setState({ kind: 'error', message: reason });
      return;
    }
    initialized = true;
    this.policy.started(Date.now());
    this.watchdog?.stop();
    this.watchdog = new Watchdog(
      () => client.sendRequest(PingRequest, {}),
      (silentMs) => this.hung(generation, silentMs),
    );
    this.watchdog.start();
    if (this.current.kind === 'starting') this.setState({ kind: 'loading' });
    try {
      const status = await client.sendRequest<ModelStatus>(GetStatusRequest, {});
      // A notification may have brought a newer status while the request was in flight.
      if (generation === this.generation && (this.current.kind === 'loading' || this.current.kind === 'starting')) {
        this.modelStatus(status);
      }
    } catch (error) {
      log.warn(`could not read the model status: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  /** A restart the user asked for: a clean slate for the crash count. */
  async restart(): Promise<void> {
    this.policy.reset();
    this.notifiedCrash = false;
    await this.stop();
    await this.start();
  }

  async stop(): Promise<void> {
    this.generation++;
    this.watchdog?.stop();
    this.watchdog = undefined;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    const client = this.client;
    const child = this.child;
    this.client = undefined;
    this.child = undefined;
    if (client && client.state !== State.Stopped) {
      // A wedged server must not hang the editor: give it two seconds to exit politely.
      await client.stop(2000).catch(() => undefined);
    }
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    this.setState({ kind: 'stopped' });
  }

  /** Settings the server can take without a restart. */
  async sendSettings(settings: ExtensionSettings): Promise<void> {
    await this.running?.sendNotification('workspace/didChangeConfiguration', {
      settings: { tramontane: serverSettings(settings) },
    });
  }

  dispose(): void {
    void this.stop();
    this.stateEmitter.dispose();
  }

  // Transports of our own, not the child process, so that a server killed in the middle of
  // a message leaves no timer behind in the extension host (server/lsp/child-connection.ts).
  private async spawnServer(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<MessageTransports> {
    const log = this.options.log;
    log.info(`starting the server: ${command} ${args.join(' ')}`);
    this.lastStderr = '';
    const child = spawn(command, args, { env, stdio: 'pipe', windowsHide: true });
    this.child = child;
    child.stderr?.on('data', (chunk: Buffer) => {
      const lines = chunk.toString('utf8').trim().split('\n');
      const last = lines[lines.length - 1]?.trim();
      if (last) this.lastStderr = last;
    });
    child.on('exit', (code, signal) => log.info(`server (pid ${child.pid}) exited: ${signal ?? `code ${code}`}`));
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (error) =>
        reject(new Error(`could not run ${command} (${error.message}); check tramontane.server.nodePath`)),
      );
    });
    log.info(`server started, pid ${child.pid}`);
    // What the language client does with a child process's stderr, done here.
    readline.createInterface({ input: child.stderr!, crlfDelay: Infinity }).on('line', (line) => log.error(line));
    return childTransports(child);
  }

  private modelStatus(status: ModelStatus): void {
    switch (status.state) {
      case 'loading':
        this.setState({ kind: 'loading', progress: status.progress, status });
        break;
      case 'ready':
        this.setState({ kind: 'ready', status });
        break;
      case 'error':
        this.setState({ kind: 'error', message: status.error ?? 'the model failed to load', status });
        break;
    }
  }

  /** A server that stopped answering is killed; its closed connection restarts it. */
  private hung(generation: number, silentMs: number): void {
    if (generation !== this.generation) return;
    this.lastStderr = `it did not answer for ${Math.round(silentMs / 1000)} s`;
    this.options.log.error(`the server (pid ${this.child?.pid}) has not answered for ${Math.round(silentMs / 1000)} s: restarting it`);
    this.child?.kill('SIGKILL');
  }

  private died(generation: number): void {
    this.watchdog?.stop();
    this.watchdog = undefined;
    const reason = this.lastStderr ? ` (${this.lastStderr})` : '';
    const decision = this.policy.died(Date.now());
    this.client = undefined;
    if (!decision.restart) {
      this.options.log.error(`server stopped ${decision.crashes} times in a short while${reason}; not restarting`);
      this.setState({
        kind: 'error',
        crashed: true,
        message: `The server keeps stopping${reason}. See the log, then restart it.`,
      });
      return;
    }
    this.options.log.warn(`server stopped unexpectedly${reason}; restart ${decision.attempt} in ${decision.delayMs} ms`);
    this.setState({ kind: 'restarting', delayMs: decision.delayMs, attempt: decision.attempt });
    if (!this.notifiedCrash) {
      this.notifiedCrash = true;
      void vscode.window.showWarningMessage(`Tramontane's server stopped unexpectedly${reason}; restarting it.`);
    }
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (generation === this.generation) void this.start();
    }, decision.delayMs);
  }

  private setState(state: SidecarState): void {
    this.current = state;
    this.stateEmitter.fire(state);
  }
}
