// tramontane bench keystrokes: see server/bench/keystrokes.ts.
import path from 'node:path';
import { benchKeystrokes, formatReport } from '../bench/keystrokes';
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

export async function benchKeystrokesCommand(options: BenchKeystrokesOptions): Promise<void> {
  if (options.chars > 900) throw new Error('--chars must be at most 900 (the stats log keeps 1000 requests)');
  const file = path.resolve(options.file ?? path.join(__dirname, '..', 'server', 'lsp', 'server.ts'));
  const serverArgs = ['--model', resolveModelDir(options.model), '--backend', options.backend];
  if (options.threads) serverArgs.push('--threads', String(options.threads));
  const benchOptions = {
    // This same command line, as a child process: the server is measured as editors run it.
    serverCommand: [process.execPath, process.argv[1]],
    serverArgs,
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
