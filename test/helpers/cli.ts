// Runs the built command line (bin/tramontane.js) as a user would.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
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

/** `tramontane serve --http 127.0.0.1:0 ...args`, resolved with its base URL once it listens. */
export async function serveHttp(args: string[]): Promise<{ base: string; process: ChildProcess }> {
  const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'tramontane.js'), 'serve', ...args, '--http', '127.0.0.1:0'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  const base = await new Promise<string>((resolve, reject) => {
    child.stderr!.on('data', (data: Buffer) => {
      stderr += data.toString();
      const match = /on (http:\/\/127\.0\.0\.1:\d+)\/v1/.exec(stderr);
      if (match) resolve(match[1]);
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}: ${stderr}`)));
  });
  return { base, process: child };
}

/** POSTs `body` as JSON to `serve --http` at `base` with its bearer token; asserts 200. */
export async function postJson(base: string, token: string, route: string, body: unknown): Promise<Response> {
  const response = await fetch(`${base}${route}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  assert.equal(response.status, 200);
  return response;
}
