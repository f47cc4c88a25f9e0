// tramontane bench keystrokes: see server/bench/keystrokes.ts.
import path from 'node:path';
import { benchKeystrokes, formatReport, type KeystrokeBenchOptions } from '../bench/keystrokes';
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
