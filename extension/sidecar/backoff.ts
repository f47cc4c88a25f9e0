// When to restart a server that died: at once the first time, then with doubling delays;
// a crash loop (too many deaths in a short window) stops restarting until the user asks.
// A server that stayed up for a while is forgiven its past crashes.

export interface BackoffOptions {
  /** Delay before the second restart in a row; it doubles after that. */
  initialMs: number;
  maxMs: number;
  /** Deaths within `windowMs` after which restarting stops. */
  maxCrashes: number;
  windowMs: number;
  /** Uptime after which earlier crashes no longer count. */
  healthyMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = {
  initialMs: 500,
  maxMs: 30_000,
  maxCrashes: 6,
  windowMs: 3 * 60_000,
  healthyMs: 2 * 60_000,
};

export type RestartDecision = { restart: true; delayMs: number; attempt: number } | { restart: false; crashes: number };

export class RestartPolicy {
  private crashes: number[] = [];
  private startedAt = 0;

  constructor(private readonly options: BackoffOptions = DEFAULT_BACKOFF) {}

  /** Call when a server process starts. */
  started(now: number): void {
    if (this.startedAt > 0 && now - this.startedAt >= this.options.healthyMs) this.crashes = [];
    this.startedAt = now;
  }

  /** Call when the server dies unexpectedly; says whether and when to restart. */
  died(now: number): RestartDecision {
    if (this.startedAt > 0 && now - this.startedAt >= this.options.healthyMs) this.crashes = [];
    this.crashes = this.crashes.filter((t) => now - t < this.options.windowMs);
    this.crashes.push(now);
    const attempt = this.crashes.length;
    if (attempt > this.options.maxCrashes) return { restart: false, crashes: attempt };
    const delayMs = attempt === 1 ? 0 : Math.min(this.options.maxMs, this.options.initialMs * 2 ** (attempt - 2));
    return { restart: true, delayMs, attempt };
  }

  /** A restart the user asked for starts with a clean slate. */
  reset(): void {
    this.crashes = [];
    this.startedAt = 0;
  }
}
