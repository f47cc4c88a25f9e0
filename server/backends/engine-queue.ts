// One engine, one forward pass at a time. Completions go first; background work (chat,
// explain) runs in short preemptible steps: a completion arriving while a step runs
// aborts that step within one token, runs, and the background work resumes after it.
import PQueue from 'p-queue';

const HIGH = 1;
const LOW = 0;

export class EngineQueue {
  private readonly queue = new PQueue({ concurrency: 1 });
  private preemptRunning?: () => void;

  /**
   * Runs `task` before any background step. A task whose request was superseded while
   * queued should return at once when it starts (it checks its own signal): p-queue's
   * abort would also reject a task that is already running, letting the next one start
   * while the engine is still busy.
   */
  urgent<T>(task: () => Promise<T>): Promise<T> {
    const result = this.queue.add(task, { priority: HIGH });
    this.preemptRunning?.();
    return result;
  }

  /** Runs one background step; its signal aborts when urgent work arrives. */
  background<T>(step: (preempt: AbortSignal) => Promise<T>): Promise<T> {
    return this.queue.add(
      async () => {
        const preempt = new AbortController();
        this.preemptRunning = () => preempt.abort();
        // Urgent work queued while this step waited its turn preempts it at once.
        if (this.queue.sizeBy({ priority: HIGH }) > 0) preempt.abort();
        try {
          return await step(preempt.signal);
        } finally {
          this.preemptRunning = undefined;
        }
      },
      { priority: LOW },
    );
  }

  get pending(): number {
    return this.queue.size + this.queue.pending;
  }
}
