// Notices an engine call that hangs. Engine calls run on worker threads, so the event
// loop stays free to watch them: a call marks progress when it starts, at every streamed
// piece and when it ends, and one that goes `limitMs` without progress is reported once.
// A prefill is one call, so the limit must cover the longest legitimate prefill (minutes
// for a long prompt on a slow CPU): it is far above any, and only catches the stuck.

export class EngineWatch {
  private active = 0;
  private lastProgress = 0;
  private reported = false;
  private readonly timer: ReturnType<typeof setInterval>;

  constructor(
    private readonly limitMs: number,
    private readonly onHung: (stalledMs: number) => void,
  ) {
    this.timer = setInterval(() => this.check(), Math.min(1000, Math.max(10, limitMs / 4)));
    this.timer.unref(); // the watch alone must not keep the process alive
  }

  /** Runs an engine call under the watch. */
  async track<T>(call: () => Promise<T>): Promise<T> {
    this.active++;
    this.progress();
    try {
      return await call();
    } finally {
      this.active--;
      this.progress();
    }
  }

  progress(): void {
    this.lastProgress = Date.now();
  }

  dispose(): void {
    clearInterval(this.timer);
  }

  private check(): void {
    const stalled = Date.now() - this.lastProgress;
    if (this.active > 0 && stalled > this.limitMs && !this.reported) {
      this.reported = true;
      this.onHung(stalled);
    }
  }
}
