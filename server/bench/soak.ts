// tramontane bench soak: rapid typing over several documents with a chat running the
// whole time, through a real `tramontane serve --stdio`, as an editor left open for a day
// drives it. Checks what must hold however long it runs:
//  - the server stays up and answers;
//  - no text for a superseded request: every keystroke's change and request are followed
//    by a ping; the server handles messages in order, so once the ping's answer is back
//    it has seen the newer request, and any text (streamed or final) for an older request
//    of that document arriving after that answer was sent for a superseded version. The
//    server also writes in order, so this is exact, whatever the timing;
//  - its memory (RSS) stays flat after warm-up.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
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
  type InlineCompletionItem,
  type InlineCompletionList,
  type Position,
} from 'vscode-languageserver-protocol/node';
import { initializeServer, startServer } from '../lsp/child-connection';
import { ChatRequest, GetStatusRequest, PingRequest, type ChatResult, type PingResult, type InlineCompletionPartial, type ModelStatus, type Settings } from '../protocol';
import { percentile } from './keystrokes';
import { seededRandom } from './seeded-random';

export interface SoakOptions {
  /** The command that starts the server: [executable, ...args] before "serve --stdio". */
  serverCommand: string[];
  serverArgs: string[];
  /** Source files to type in, one document each. */
  files: string[];
  keystrokes: number;
  /** Mean milliseconds between keystrokes within a burst. */
  intervalMs: number;
  /** Pause after a burst, before typing in another document (reading the suggestion). */
  pauseMs: number;
  /** Share of the keystrokes before memory is taken as warmed up. */
  warmupShare: number;
  /** Whether a chat runs, one answer after another, while typing goes on. */
  chat: boolean;
  settings: Partial<Settings>;
  seed: number;
  /** Called now and then with the keystrokes typed so far. */
  progress?: (typed: number) => void;
}

export interface SoakReport {
  status: ModelStatus;
  keystrokes: number;
  documents: number;
  seconds: number;
  /** Requests answered with a suggestion. */
  answered: number;
  /** Requests answered empty, superseded or cancelled. */
  dropped: number;
  /** Suggestion texts that arrived, streamed or final. */
  texts: number;
  /** Texts that arrived for a request the server knew to be superseded: must be 0. */
  lateTexts: number;
  /** Requests that failed other than by cancellation: must be 0. */
  errors: string[];
  chats: number;
  chatErrors: string[];
  /** The server still running and answering at the end. */
  alive: boolean;
  rssMiB: { warm: number; end: number; maxAfterWarmup: number; growth: number };
  /** Every sample: keystrokes typed when it was taken, and the RSS. */
  rssSamples: { at: number; mib: number }[];
  /** Keystroke → final answer of the requests answered with a suggestion. */
  answerMs: { p50: number; p95: number };
}

/** Source files under `root`, the largest first: real code to type in. */
export function sourceFiles(root: string, count: number): string[] {
  const files = fs
    .readdirSync(root, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts'))
    .map((file) => path.join(root, file));
  if (files.length < count) throw new Error(`${count} documents asked for: only ${files.length} source files under ${root}`);
  return files.sort((a, b) => fs.statSync(b).size - fs.statSync(a).size || a.localeCompare(b)).slice(0, count);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function positionAt(text: string, offset: number): Position {
  const before = text.slice(0, offset);
  const line = before.split('\n').length - 1;
  return { line, character: offset - (before.lastIndexOf('\n') + 1) };
}

/** Resident memory of a process in MiB (Linux /proc; elsewhere ps). */
function rssMiB(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    if (match) return Number(match[1]) / 1024;
  } catch {
    // not Linux
  }
  return Number(execFileSync('ps', ['-o', 'rss=', '-p', String(pid)], { encoding: 'utf8' }).trim()) / 1024;
}

interface Doc {
  uri: string;
  text: string;
  /** The cursor. */
  offset: number;
  /** What is left to type there: the file's own text, taken out when the document opens. */
  toType: string;
  version: number;
  /** Requests of this document numbered below this are superseded, and the server knows it. */
  supersededBelow: number;
}

export async function soak(options: SoakOptions): Promise<SoakReport> {
  if (options.files.length === 0) throw new Error('soak needs at least one file to type in');
  const random = seededRandom(options.seed);
  const perDoc = Math.ceil(options.keystrokes / options.files.length) * 3;
  const docs: Doc[] = options.files.map((file, i) => {
    const source = fs.readFileSync(file, 'utf8').replace(/\r\n/g, '\n');
    const lines = source.split('\n');
    const start = lines.slice(0, Math.floor(lines.length * 0.6)).join('\n').length + 1;
    const offset = Math.min(start, source.length);
    const toType = source.slice(offset, offset + perDoc);
    return { uri: `file:///soak/${i}/${file.replace(/^.*\//, '')}`, text: source.slice(0, offset) + source.slice(offset + toType.length), offset, toType, version: 1, supersededBelow: 0 };
  });

  const { child, connection } = startServer(options.serverCommand, options.serverArgs);
  let exitCode: number | null | undefined;
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exitCode = code ?? (signal ? -1 : null);
      resolve();
    }),
  );
  const rss: { at: number; mib: number }[] = [];
  let sampler: ReturnType<typeof setInterval> | undefined;
  const started = performance.now();
  try {
    const status = await initializeServer(connection, options.settings);
    for (const doc of docs) {
      await connection.sendNotification(DidOpenTextDocumentNotification.type, { textDocument: { uri: doc.uri, languageId: 'typescript', version: 1, text: doc.text } });
    }
    let typed = 0;
    sampler = setInterval(() => {
      if (child.exitCode === null) rss.push({ at: typed, mib: rssMiB(child.pid!) });
    }, 200);

    // The chat: one answer after another until typing ends.
    let typing = true;
    let chats = 0;
    const chatErrors: string[] = [];
    const chatLoop = (async () => {
      while (options.chat && typing) {
        try {
          await connection.sendRequest<ChatResult>(ChatRequest, { messages: [{ role: 'user', content: `Explain step ${chats + 1} of the plan.` }], maxTokens: 64 });
          chats++;
        } catch (error) {
          chatErrors.push((error as Error).message);
          if (child.exitCode !== null) return;
        }
      }
    })();

    let answered = 0;
    let dropped = 0;
    let texts = 0;
    let lateTexts = 0;
    const errors: string[] = [];
    const answerTimes: number[] = [];
    const pending: Promise<void>[] = [];
    let previous: CancellationTokenSource | undefined;
    let requestSeq = 0;

    // Text arrived for request `seq` of `doc`: late if the server already knew a newer one.
    const arrived = (doc: Doc, seq: number, hasText: boolean) => {
      if (!hasText) return;
      texts++;
      if (seq < doc.supersededBelow) lateTexts++;
    };

    while (typed < options.keystrokes && child.exitCode === null) {
      // A burst in one document, then a pause while the eyes move to another.
      const doc = docs[Math.floor(random() * docs.length)];
      const burst = Math.min(options.keystrokes - typed, 10 + Math.floor(random() * 50));
      for (let k = 0; k < burst && doc.toType.length > 0; k++) {
        const ch = doc.toType[0];
        doc.toType = doc.toType.slice(1);
        const at = positionAt(doc.text, doc.offset);
        doc.text = doc.text.slice(0, doc.offset) + ch + doc.text.slice(doc.offset);
        doc.offset += 1;
        doc.version++;
        previous?.cancel(); // the editor drops the previous keystroke's request
        await connection.sendNotification(DidChangeTextDocumentNotification.type, {
          textDocument: { uri: doc.uri, version: doc.version },
          contentChanges: [{ range: { start: at, end: at }, text: ch }],
        });
        const seq = ++requestSeq;
        const cancel = new CancellationTokenSource();
        previous = cancel;
        const token = `soak-${seq}`;
        const pressed = performance.now();
        const progress = connection.onProgress(new ProgressType<InlineCompletionPartial>(), token, (items) => arrived(doc, seq, hasText(items)));
        pending.push(
          connection
            .sendRequest(
              InlineCompletionRequest.type,
              { textDocument: { uri: doc.uri }, position: positionAt(doc.text, doc.offset), context: { triggerKind: InlineCompletionTriggerKind.Automatic }, partialResultToken: token },
              cancel.token,
            )
            .then(
              (result) => {
                const text = hasText(itemsOf(result));
                arrived(doc, seq, text);
                if (text) {
                  answered++;
                  answerTimes.push(performance.now() - pressed);
                } else dropped++;
              },
              (error: { code?: number; message?: string }) => {
                if (error.code === -32800) dropped++; // cancelled by the next keystroke
                else errors.push(error.message ?? String(error));
              },
            )
            .finally(() => progress.dispose()),
        );
        pending.push(
          connection.sendRequest<PingResult>(PingRequest, {}).then(() => {
            doc.supersededBelow = Math.max(doc.supersededBelow, seq);
          }),
        );
        typed++;
        if (typed % 100 === 0) options.progress?.(typed);
        await sleep(options.intervalMs * (ch === '\n' ? 3 : 0.5 + random()));
      }
      await sleep(options.pauseMs);
    }
    await Promise.all(pending);
    typing = false;
    await chatLoop;
    clearInterval(sampler);
    sampler = undefined;

    let alive = child.exitCode === null;
    if (alive) {
      try {
        alive = (await connection.sendRequest<ModelStatus>(GetStatusRequest, {})).state === 'ready';
        rss.push({ at: typed, mib: rssMiB(child.pid!) });
      } catch {
        alive = false;
      }
    }
    const warmAt = Math.floor(options.keystrokes * options.warmupShare);
    const after = rss.filter((s) => s.at >= warmAt);
    const warm = after[0]?.mib ?? NaN;
    const maxAfterWarmup = Math.max(...after.map((s) => s.mib));
    const report: SoakReport = {
      status,
      keystrokes: typed,
      documents: docs.length,
      seconds: (performance.now() - started) / 1000,
      answered,
      dropped,
      texts,
      lateTexts,
      errors,
      chats,
      chatErrors,
      alive,
      rssMiB: { warm, end: rss.at(-1)?.mib ?? NaN, maxAfterWarmup, growth: maxAfterWarmup - warm },
      rssSamples: rss,
      answerMs: { p50: percentile(answerTimes, 50), p95: percentile(answerTimes, 95) },
    };
    if (alive) {
      await connection.sendRequest(ShutdownRequest.type);
      await connection.sendNotification(ExitNotification.type);
    }
    return report;
  } finally {
    if (sampler) clearInterval(sampler);
    setTimeout(() => child.kill(), 2000).unref();
    await Promise.race([exited, sleep(2500)]);
    connection.dispose();
    if (exitCode !== undefined && exitCode !== 0 && exitCode !== null) process.stderr.write(`tramontane: the server exited with ${exitCode}\n`);
  }
}

function itemsOf(result: InlineCompletionList | InlineCompletionItem[] | null): InlineCompletionItem[] {
  if (!result) return [];
  return Array.isArray(result) ? result : result.items;
}

function hasText(items: InlineCompletionItem[]): boolean {
  const first = items[0]?.insertText;
  return (typeof first === 'string' ? first : (first?.value ?? '')) !== '';
}

export function formatSoakReport(report: SoakReport, options: SoakOptions): string {
  const f = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : 'n/a');
  return [
    `model: ${report.status.model} (${report.status.backend})`,
    `typed: ${report.keystrokes} keystrokes over ${report.documents} documents, ~${options.intervalMs} ms apart in bursts, in ${f(report.seconds)} s; chat ${options.chat ? `running: ${report.chats} answers` : 'off'}`,
    `requests: ${report.answered} answered with a suggestion (keystroke → answer p50 ${f(report.answerMs.p50)} ms, p95 ${f(report.answerMs.p95)} ms), ${report.dropped} superseded or cancelled`,
    `suggestion texts received (streamed or final): ${report.texts}, of which for a superseded request: ${report.lateTexts}`,
    `errors: ${report.errors.length}; chat errors: ${report.chatErrors.length}; server ${report.alive ? 'up and answering' : 'DOWN'}`,
    `server RSS: ${f(report.rssMiB.warm)} MiB after warm-up (${Math.round(options.warmupShare * 100)} % of the keystrokes), at most ${f(report.rssMiB.maxAfterWarmup)} MiB after it (+${f(report.rssMiB.growth)} MiB), ${f(report.rssMiB.end)} MiB at the end`,
  ].join('\n');
}
