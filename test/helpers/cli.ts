// Runs the built command line (bin/tramontane.js) as a user would.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { ROOT } from './tokenizers';

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function tramontane(args: string[], options: { timeoutMs?: number } = {}): CliResult {
  const result = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'tramontane.js'), ...args], {
    encoding: 'utf8',
    timeout: options.timeoutMs ?? 120_000,
    maxBuffer: 256 * 1024 * 1024,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}
