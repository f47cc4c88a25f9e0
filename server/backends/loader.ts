// Loads the backend once, as soon as `serve` starts, for every front end that needs it
// (the language server, the HTTP endpoint); remembers progress for late listeners.
import type { Backend } from './backend';
import { openBackend, type BackendSpec } from './open';

export class BackendLoader {
  readonly promise: Promise<Backend>;
  progress = 0;
  private readonly listeners = new Set<(fraction: number) => void>();

  constructor(readonly spec: BackendSpec) {
    this.promise = openBackend(spec, (fraction) => {
      this.progress = fraction;
      for (const listener of this.listeners) listener(fraction);
    });
    this.promise.catch(() => undefined); // each user awaits it and reports the error its own way
  }

  onProgress(listener: (fraction: number) => void): void {
    this.listeners.add(listener);
  }
}
