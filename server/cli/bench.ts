// tramontane bench keystrokes and soak: see server/bench/keystrokes.ts and soak.ts.
import path from 'node:path';
import { benchKeystrokes, formatReport, type KeystrokeBenchOptions } from '../bench/keystrokes';
import { formatSoakReport, soak, sourceFiles, type SoakOptions } from '../bench/soak';
import { resolveModelDir, type EngineOptions } from './options';

export interface BenchKeystrokesOptions extends EngineOptions {
  file?: string;
  chars: number;
  line?: number;
  interval: number;
  maxTokens: number;
  context: number;
  template: string;
  seed: number;
  json?: boolean;
}

/** The replay's server: this same command line as a child, run as editors run it. */
export function replayServer(modelDir: string, options: EngineOptions): Pick<KeystrokeBenchOptions, 'serverCommand' | 'serverArgs'> {
  const serverArgs = ['--model', modelDir, '--backend', options.backend];
  if (options.threads) serverArgs.push('--threads', String(options.threads));
  return { serverCommand: [process.execPath, process.argv[1]], serverArgs };
}

export async function benchKeystrokesCommand(options: BenchKeystrokesOptions): Promise<void> {
  if (options.chars > 900) throw new Error('--chars must be at most 900 (the stats log keeps 1000 requests)');
  const file = path.resolve(options.file ?? path.join(__dirname, '..', 'server', 'lsp', 'server.ts'));
  const benchOptions: KeystrokeBenchOptions = {
    ...replayServer(resolveModelDir(options.model), options),
    file,
    chars: options.chars,
    line: options.line === undefined ? undefined : options.line - 1,
    intervalMs: options.interval,
    settings: { maxTokens: options.maxTokens, contextTokens: options.context, fimTemplate: options.template as never },
    seed: options.seed,
  };
  const report = await benchKeystrokes(benchOptions);
  if (options.json) {
    const { samples, ...summary } = report;
    process.stdout.write(JSON.stringify({ ...summary, keystrokes: samples.length }, null, 2) + '\n');
  } else {
    process.stdout.write(formatReport(report, benchOptions) + '\n');
  }
}

export interface BenchSoakOptions extends EngineOptions {
  keystrokes: number;
  documents: number;
  interval: number;
  pause: number;
  chat: boolean;
  maxTokens: number;
  seed: number;
  rssBound: number;
  warmup: number;
  json?: boolean;
}

export async function benchSoakCommand(options: BenchSoakOptions): Promise<void> {
  const soakOptions: SoakOptions = {
    ...replayServer(resolveModelDir(options.model), options),
    files: sourceFiles(path.join(__dirname, '..', 'server'), options.documents),
    keystrokes: options.keystrokes,
    intervalMs: options.interval,
    pauseMs: options.pause,
    warmupShare: options.warmup,
    chat: options.chat,
    settings: { maxTokens: options.maxTokens },
    seed: options.seed,
    progress: options.json ? undefined : (typed) => process.stderr.write(`\r${typed} keystrokes`),
  };
  const report = await soak(soakOptions);
  if (!options.json) process.stderr.write('\n');
  process.stdout.write((options.json ? JSON.stringify(report, null, 2) : formatSoakReport(report, soakOptions)) + '\n');
  const failures = [
    report.alive ? '' : 'the server went down',
    report.lateTexts > 0 ? `${report.lateTexts} texts for superseded requests` : '',
    report.errors.length > 0 ? `${report.errors.length} failed requests (${report.errors[0]})` : '',
    report.chatErrors.length > 0 ? `${report.chatErrors.length} failed chats (${report.chatErrors[0]})` : '',
    report.rssMiB.growth > options.rssBound ? `RSS grew ${report.rssMiB.growth.toFixed(1)} MiB after warm-up, over --rss-bound ${options.rssBound}` : '',
  ].filter(Boolean);
  if (failures.length > 0) throw new Error(`soak failed: ${failures.join('; ')}`);
}
