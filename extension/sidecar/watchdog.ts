// Notices a server that stopped answering: its event loop blocked, or the process frozen.
// It pings at an interval (tramontane/ping, answered at once whatever the engine does);
// a ping left unanswered for timeoutMs is a hang, reported once. A busy engine is not a
// hang: it works off the server's event loop. No `vscode` import, so it runs in tests.

export interface WatchdogOptions {
  intervalMs: number;
  timeoutMs: number;
}

export const DEFAULT_WATCHDOG: WatchdogOptions = { intervalMs: 10_000, timeoutMs: 60_000 };

export class Watchdog {
  private timer: ReturnType<typeof setInterval> | undefined;
  private lastSent: number | undefined;
  /** When the unanswered ping was sent; undefined while none is out. */
  private pendingSince: number | undefined;

  constructor(
    private readonly ping: () => Thenable<unknown>,
    private readonly onHung: (silentMs: number) => void,
    private readonly options: WatchdogOptions = DEFAULT_WATCHDOG,
  ) {}

  start(): void {
    this.stop();
    this.timer = setInterval(() => this.tick(), Math.min(this.options.intervalMs, this.options.timeoutMs / 4));
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.pendingSince = undefined;
  }

  private tick(): void {
    const now = Date.now();
    if (this.pendingSince !== undefined) {
      if (now - this.pendingSince > this.options.timeoutMs) {
        const silent = now - this.pendingSince;
        this.stop();
        this.onHung(silent);
      }
      return;
    }
    if (this.lastSent !== undefined && now - this.lastSent < this.options.intervalMs) return;
    const sent = now;
    this.lastSent = sent;
    this.pendingSince = sent;
    // A failed ping (the connection closing) is not a hang: the close is handled elsewhere.
    const settle = () => {
      if (this.pendingSince === sent) this.pendingSince = undefined;
    };
    void Promise.resolve(this.ping()).then(settle, settle);
  }
}
