// A connection to a server that dies in the middle of a message: once disposed, nothing
// of it keeps the process alive (vscode-jsonrpc's reader alone would, re-arming a timer
// every 10 s for the half-read message).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';

const MODULE = path.resolve('server/lsp/child-connection.ts');

// A "server" that writes the header and half the body of a message, then exits.
const DIES_MID_MESSAGE = `process.stdout.write('Content-Length: 100\\r\\n\\r\\n{"jsonrpc":"2.0",', () => process.exit(0));`;

// The client process: connects, waits for the server's exit, disposes the connection, and
// should then end by itself.
const CLIENT = `
import { spawn } from 'node:child_process';
import { connectToChild } from ${JSON.stringify(MODULE)};
const child = spawn(process.execPath, ['-e', ${JSON.stringify(DIES_MID_MESSAGE)}], { stdio: ['pipe', 'pipe', 'inherit'] });
const connection = connectToChild(child);
connection.listen();
child.on('close', () => {
  connection.dispose();
  console.log('disposed');
});
`;

describe('connection to a server child process', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tramontane-connection-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('lets the process end after the server died mid-message and the connection was disposed', async () => {
    const script = path.join(dir, 'client.ts');
    fs.writeFileSync(script, CLIENT);
    const client = spawn(process.execPath, ['--import', 'tsx', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    client.stdout.on('data', (data: Buffer) => (stdout += data.toString()));
    const started = Date.now();
    const ended = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        client.kill('SIGKILL');
        resolve(false);
      }, 8000);
      client.on('exit', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    assert.match(stdout, /disposed/, 'the server exited and the connection was disposed');
    assert.ok(ended, `the client was still running ${Date.now() - started} ms after it started`);
  });
});
