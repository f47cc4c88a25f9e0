// Whether ghost text may be offered right now: the global toggle (kept across sessions),
// a snooze that ends by itself, and the per-language setting.
import { isLanguageEnabled, type ExtensionSettings } from '../settings';

export interface KeyValueStore {
  get<T>(key: string): T | undefined;
  update(key: string, value: unknown): PromiseLike<void>;
}

const ENABLED_KEY = 'tramontane.inlineEnabled';

export type GateState = { kind: 'on' } | { kind: 'off' } | { kind: 'snoozed'; until: number };

export class CompletionGate {
  private snoozedUntil = 0;
  private snoozeTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly listeners = new Set<() => void>();

  constructor(
    private readonly store: KeyValueStore,
    private readonly settings: () => Pick<ExtensionSettings, 'enabledLanguages'>,
    private readonly now: () => number = Date.now,
  ) {}

  get enabled(): boolean {
    return this.store.get<boolean>(ENABLED_KEY) ?? true;
  }

  state(): GateState {
    if (!this.enabled) return { kind: 'off' };
    if (this.snoozedUntil > this.now()) return { kind: 'snoozed', until: this.snoozedUntil };
    return { kind: 'on' };
  }

  /** Whether to offer ghost text in a document of this language now. */
  allows(languageId: string): boolean {
    return this.state().kind === 'on' && isLanguageEnabled(this.settings(), languageId);
  }

  async setEnabled(enabled: boolean): Promise<void> {
    await this.store.update(ENABLED_KEY, enabled);
    if (enabled) this.clearSnooze();
    this.emit();
  }

  async toggle(): Promise<boolean> {
    const next = this.state().kind !== 'on';
    await this.setEnabled(next);
    return next;
  }

  snooze(minutes: number): void {
    this.clearSnooze();
    this.snoozedUntil = this.now() + minutes * 60_000;
    this.snoozeTimer = setTimeout(() => {
      this.snoozeTimer = undefined;
      this.emit();
    }, minutes * 60_000);
    this.emit();
  }

  onChange(listener: () => void): { dispose(): void } {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }

  dispose(): void {
    this.clearSnooze();
    this.listeners.clear();
  }

  private clearSnooze(): void {
    if (this.snoozeTimer) clearTimeout(this.snoozeTimer);
    this.snoozeTimer = undefined;
    this.snoozedUntil = 0;
  }

  private emit(): void {
    for (const listener of [...this.listeners]) listener();
  }
}
