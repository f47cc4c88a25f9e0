// The status bar item: backend and model, state, the last completion's figures; a click
// opens the quick menu.
import * as vscode from 'vscode';
import { StatsRequest, type StatsResult } from '../../server/protocol';
import type { CompletionGate } from '../completion/gate';
import type { Sidecar } from '../sidecar/sidecar';
import { lastCompletion, statusView, type LastCompletion } from './format';

export class StatusBar implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private last: LastCompletion | undefined;
  private generating = 0;
  private readonly disposables: vscode.Disposable[] = [];
  private tick: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly sidecar: Sidecar,
    private readonly gate: CompletionGate,
    private readonly embedded: () => boolean,
    private readonly log: vscode.LogOutputChannel,
  ) {
    this.item = vscode.window.createStatusBarItem('tramontane.status', vscode.StatusBarAlignment.Right, 100);
    this.item.name = 'Tramontane';
    this.item.command = 'tramontane.showMenu';
    this.disposables.push(sidecar.onState(() => this.update()));
    const gateSub = gate.onChange(() => this.update());
    this.disposables.push({ dispose: () => gateSub.dispose() });
    // The snooze countdown.
    this.tick = setInterval(() => {
      if (this.gate.state().kind === 'snoozed') this.update();
    }, 30_000);
    this.update();
    this.item.show();
  }

  /** A completion or chat started (true) or ended (false). */
  activity(active: boolean): void {
    this.generating = Math.max(0, this.generating + (active ? 1 : -1));
    this.update();
  }

  /** Reads the last completion's figures from tramontane/stats. */
  async refreshStats(): Promise<void> {
    const client = this.sidecar.running;
    if (!client) return;
    try {
      const stats = await client.sendRequest<StatsResult>(StatsRequest, { limit: 20 });
      const last = lastCompletion(stats.completions);
      if (last) this.last = last;
      this.update();
    } catch (error) {
      this.log.debug(`tramontane/stats failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  update(): void {
    const view = statusView({
      sidecar: this.sidecar.state,
      gate: this.gate.state(),
      embedded: this.embedded(),
      generating: this.generating > 0,
      last: this.last,
      now: Date.now(),
    });
    this.item.text = view.text;
    this.item.tooltip = view.tooltip;
    this.item.backgroundColor =
      view.severity === 'error'
        ? new vscode.ThemeColor('statusBarItem.errorBackground')
        : view.severity === 'warning'
          ? new vscode.ThemeColor('statusBarItem.warningBackground')
          : undefined;
  }

  dispose(): void {
    if (this.tick) clearInterval(this.tick);
    for (const d of this.disposables) d.dispose();
    this.item.dispose();
  }
}
