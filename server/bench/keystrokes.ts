// tramontane bench keystrokes: replays the typing of a real file against a real
// `tramontane serve --stdio` process, as an editor drives it: every keystroke is an
// incremental change followed by an inline-completion request that cancels the one
// before it. Measures keystroke → first streamed text and → complete suggestion, the
// prompt tokens computed per keystroke (from tramontane/stats), and cache hits.
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import {
  CancellationTokenSource,
  DidChangeTextDocumentNotification,
  DidOpenTextDocumentNotification,
  ExitNotification,
  InlineCompletionRequest,
  InlineCompletionTriggerKind,
  ProgressType,
  ShutdownRequest,
  type Position,
} from 'vscode-languageserver-protocol/node';
import { initializeServer, startServer } from '../lsp/child-connection';
import { StatsRequest, type CompletionStats, type InlineCompletionPartial, type ModelStatus, type Settings, type StatsResult } from '../protocol';
import { seededRandom } from './seeded-random';

export interface KeystrokeBenchOptions {
  /** The command that starts the server: [executable, ...args] before "serve --stdio". */
  serverCommand: string[];
  serverArgs: string[];
  file: string;
  /** Characters to type. */
  chars: number;
  /** Line to start typing at (default: the first line with at least `minPrefix` characters before it). */
  line?: number;
  /** Mean milliseconds between keystrokes (a line end takes three times longer). */
  intervalMs: number;
  settings: Partial<Settings>;
  seed: number;
  /** Watches the replay as it happens (the demo draws the ghost text from these). */
  observer?: KeystrokeObserver;
}

export interface KeystrokeObserver {
  /** After each keystroke: the line being typed, up to the cursor. */
  typed?(lineBeforeCursor: string): void;
  /** Each streamed update of the current keystroke's suggestion (the whole text so far). */
  suggestion?(text: string): void;
  /** The current keystroke's request was answered. */
  answered?(text: string, elapsedMs: number): void;
}

export interface KeystrokeSample {
  char: string;
  /** Keystroke → first streamed text (or the answer, if it came whole); undefined if none. */
  firstMs?: number;
  /** Keystroke → the response; undefined if superseded by the next keystroke. */
  completeMs?: number;
  stats?: CompletionStats;
}

export interface KeystrokeReport {
  samples: KeystrokeSample[];
  status: ModelStatus;
  promptTokensMedian: number;
  firstMs: { p50: number; p95: number };
  completeMs: { p50: number; p95: number };
  computedPerKeystroke: { p50: number; p95: number; mean: number };
  cacheHitRate: number;
  answered: number;
  superseded: number;
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

function positionAt(text: string, offset: number): Position {
  const before = text.slice(0, offset);
  const line = before.split('\n').length - 1;
  return { line, character: offset - (before.lastIndexOf('\n') + 1) };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function benchKeystrokes(options: KeystrokeBenchOptions): Promise<KeystrokeReport> {
  const source = fs.readFileSync(options.file, 'utf8').replace(/\r\n/g, '\n');
  const lines = source.split('\n');
  const startLine = options.line ?? Math.min(lines.length - 1, Math.floor(lines.length * 0.6));
  let offset = lines.slice(0, startLine).join('\n').length + (startLine > 0 ? 1 : 0);
  const typed = source.slice(offset, offset + options.chars);
  if (typed.length === 0) throw new Error(`nothing to type at line ${startLine + 1} of ${options.file}`);
  // The document starts without the text about to be typed.
  let text = source.slice(0, offset) + source.slice(offset + typed.length);

  const { child, connection } = startServer(options.serverCommand, options.serverArgs);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    const status = await initializeServer(connection, options.settings);

    const uri = `file://${options.file}`;
    let version = 1;
    await connection.sendNotification(DidOpenTextDocumentNotification.type, { textDocument: { uri, languageId: languageOf(options.file), version, text } });

    // The first request fills the cache: it is what opening a file costs, not a keystroke.
    await connection.sendRequest(InlineCompletionRequest.type, {
      textDocument: { uri },
      position: positionAt(text, offset),
      context: { triggerKind: InlineCompletionTriggerKind.Invoked },
    });
    const baseline = (await connection.sendRequest<StatsResult>(StatsRequest, {})).completions.at(-1)?.id ?? 0;

    const random = seededRandom(options.seed);
    const samples: KeystrokeSample[] = [];
    const pending: Promise<void>[] = [];
    let previous: CancellationTokenSource | undefined;
    let tokenCounter = 0;
    for (const ch of typed) {
      const position = positionAt(text, offset);
      text = text.slice(0, offset) + ch + text.slice(offset);
      offset += ch.length;
      version++;
      previous?.cancel(); // the editor drops the request of the previous keystroke
      const sample: KeystrokeSample = { char: ch };
      samples.push(sample);
      const pressed = performance.now();
      await connection.sendNotification(DidChangeTextDocumentNotification.type, {
        textDocument: { uri, version },
        contentChanges: [{ range: { start: position, end: position }, text: ch }],
      });
      const cancel = new CancellationTokenSource();
      previous = cancel;
      const partialResultToken = `bench-${++tokenCounter}`;
      const current = () => previous === cancel;
      options.observer?.typed?.(text.slice(text.lastIndexOf('\n', offset - 1) + 1, offset));
      const progress = connection.onProgress(new ProgressType<InlineCompletionPartial>(), partialResultToken, (items) => {
        sample.firstMs ??= performance.now() - pressed;
        if (current()) options.observer?.suggestion?.(insertText(items));
      });
      pending.push(
        connection
          .sendRequest(
            InlineCompletionRequest.type,
            { textDocument: { uri }, position: positionAt(text, offset), context: { triggerKind: InlineCompletionTriggerKind.Automatic }, partialResultToken },
            cancel.token,
          )
          .then(
            (result) => {
              sample.completeMs = performance.now() - pressed;
              sample.firstMs ??= sample.completeMs;
              const items = Array.isArray(result) ? result : (result?.items ?? []);
              if (current()) options.observer?.answered?.(insertText(items), sample.completeMs);
            },
            () => undefined, // cancelled by the next keystroke
          )
          .finally(() => progress.dispose()),
      );
      // Human typing: jittered intervals, longer pauses at line ends.
      const pause = options.intervalMs * (ch === '\n' ? 3 : 0.5 + random());
      await sleep(pause);
    }
    await Promise.all(pending);

    const stats = (await connection.sendRequest<StatsResult>(StatsRequest, {})).completions.filter((s) => s.id > baseline);
    // Requests reach the server in keystroke order, so the i-th entry is the i-th keystroke's.
    stats.sort((a, b) => a.id - b.id).forEach((entry, i) => {
      if (samples[i]) samples[i].stats = entry;
    });
    await connection.sendRequest(ShutdownRequest.type);
    await connection.sendNotification(ExitNotification.type);
    return summarize(samples, status);
  } finally {
    setTimeout(() => child.kill(), 2000).unref();
    await Promise.race([exited, sleep(2500)]);
    connection.dispose();
  }
}

function summarize(samples: KeystrokeSample[], status: ModelStatus): KeystrokeReport {
  const answered = samples.filter((s) => s.completeMs !== undefined);
  const firsts = samples.map((s) => s.firstMs).filter((v): v is number => v !== undefined);
  const completes = answered.map((s) => s.completeMs!);
  const withStats = samples.map((s) => s.stats).filter((s): s is CompletionStats => s !== undefined);
  const computed = withStats.filter((s) => s.computedTokens !== undefined).map((s) => s.computedTokens!);
  const cached = withStats.filter((s) => s.outcome === 'cached').length;
  // A keystroke served from the cache computes nothing.
  const perKeystroke = [...computed, ...Array<number>(cached).fill(0)];
  return {
    samples,
    status,
    promptTokensMedian: percentile(withStats.filter((s) => s.promptTokens !== undefined).map((s) => s.promptTokens!), 50),
    firstMs: { p50: percentile(firsts, 50), p95: percentile(firsts, 95) },
    completeMs: { p50: percentile(completes, 50), p95: percentile(completes, 95) },
    computedPerKeystroke: {
      p50: percentile(perKeystroke, 50),
      p95: percentile(perKeystroke, 95),
      mean: perKeystroke.reduce((a, b) => a + b, 0) / Math.max(1, perKeystroke.length),
    },
    cacheHitRate: withStats.length > 0 ? cached / withStats.length : 0,
    answered: answered.length,
    superseded: withStats.filter((s) => s.outcome === 'superseded' || s.outcome === 'cancelled').length,
  };
}

function insertText(items: InlineCompletionPartial): string {
  const first = items[0]?.insertText;
  return typeof first === 'string' ? first : (first?.value ?? '');
}

function languageOf(file: string): string {
  const ext = file.replace(/^.*\./, '');
  const map: Record<string, string> = { ts: 'typescript', js: 'javascript', py: 'python', c: 'c', h: 'c', cpp: 'cpp', go: 'go', rs: 'rust', md: 'markdown' };
  return map[ext] ?? 'plaintext';
}

export function formatReport(report: KeystrokeReport, options: KeystrokeBenchOptions): string {
  const f = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : 'n/a');
  return [
    `model: ${report.status.model} (${report.status.backend}, ${report.status.template} template)`,
    `typed: ${report.samples.length} characters of ${options.file}, ~${options.intervalMs} ms apart; median prompt ${report.promptTokensMedian} tokens`,
    `keystroke → first token:      p50 ${f(report.firstMs.p50)} ms   p95 ${f(report.firstMs.p95)} ms`,
    `keystroke → full suggestion:  p50 ${f(report.completeMs.p50)} ms   p95 ${f(report.completeMs.p95)} ms   (${report.answered} answered, ${report.superseded} cancelled by the next keystroke)`,
    `computed tokens / keystroke:  p50 ${f(report.computedPerKeystroke.p50)}   p95 ${f(report.computedPerKeystroke.p95)}   mean ${f(report.computedPerKeystroke.mean)}`,
    `completion-cache hit rate:    ${(report.cacheHitRate * 100).toFixed(1)} %`,
  ].join('\n');
}
