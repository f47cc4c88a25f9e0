// The language server's remote backend from an editor's point of view: which model it
// asks for, how it shows the remote the text around the cursor, and what the status
// says when the remote refuses. Against a real `tramontane serve --http` process.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { serveHttp } from '../helpers/cli';
import { LspClient, itemsOf } from '../helpers/lsp-client';
import { SMALL, writeTinyModel } from '../helpers/tiny-model';
import { tokenizerPath } from '../helpers/tokenizers';

const TOKEN = 'remote-test-token';

/** `tramontane serve --http` on a tiny model in a folder named `name` (the id /v1/models lists). */
async function startHttpServer(name: string): Promise<{ base: string; process: ChildProcess; dir: string }> {
  const made = writeTinyModel({ ...SMALL, vocab: 32768, eos: 32767 }, 11, { tokenizerFrom: tokenizerPath('v3', 'tokenizer.json') });
  const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tramontane-remote-')), name);
  fs.renameSync(made, dir);
  const { base, process: child } = await serveHttp(['--model', dir, '--token', TOKEN]);
  return { base, process: child, dir };
}

/** The status once it settles (ready or error). */
async function settled(client: LspClient) {
  return client.ready().then(
    (status) => status,
    () => client.statuses.at(-1)!,
  );
}

let remote: Awaited<ReturnType<typeof startHttpServer>>;
before(async () => {
  remote = await startHttpServer('codestral-tiny');
});
after(() => {
  remote.process.kill();
  fs.rmSync(path.dirname(remote.dir), { recursive: true, force: true });
});

describe('remote backend: the model', () => {
  test('without a model setting, the first model /v1/models lists is used and shown', async () => {
    const client = await LspClient.start(['--remote', `${remote.base}/v1`, '--remote-token', TOKEN], { maxTokens: 6 });
    try {
      const status = await client.ready();
      assert.equal(status.remoteModel, 'codestral-tiny');
      // Text templates from the model's name: Codestral's suffix-first FIM, not prefix-only.
      assert.equal(status.template, 'mistral');
      client.open('file:///w/a.py', 'def area(r):\n    return r\n\nprint(area(2))\n', 'python');
      await client.complete('file:///w/a.py', { line: 1, character: 12 });
      const stats = await client.lastStats();
      assert.ok(stats.outcome === 'complete' || stats.outcome === 'length', stats.outcome);
      assert.ok(stats.generatedTokens > 0);
    } finally {
      await client.stop();
    }
  });

  test('a model setting the server does not list is refused at start, naming what it serves', async () => {
    const client = await LspClient.start(['--remote', remote.base, '--remote-token', TOKEN, '--remote-model', 'mistral-large']);
    try {
      const status = await settled(client);
      assert.equal(status.state, 'error');
      assert.match(status.error!, /does not serve the model "mistral-large"; it serves "codestral-tiny"/);
    } finally {
      await client.stop();
    }
  });

  test('a model name that says nothing of FIM: prompt+suffix lets the server apply its own', async () => {
    const client = await LspClient.start(['--remote', remote.base, '--remote-token', TOKEN, '--remote-model', 'codestral-tiny', '--remote-fim', 'suffix'], { maxTokens: 6 });
    try {
      const status = await client.ready();
      assert.equal(status.template, 'mistral');
    } finally {
      await client.stop();
    }
  });
});

describe('remote backend: refusals in the status', () => {
  test('a wrong key: the status says the remote answered 401 and where to set the key', async () => {
    const client = await LspClient.start(['--remote', remote.base, '--remote-token', 'wrong']);
    try {
      const status = await settled(client);
      assert.equal(status.state, 'error');
      assert.match(status.error!, /answered 401: .*Set Remote Server API Key/);
    } finally {
      await client.stop();
    }
  });

  test('nothing listening: the status says the remote cannot be reached', async () => {
    // A port that was just free: nothing listens there.
    const probe = net.createServer().listen(0, '127.0.0.1');
    await new Promise((r) => probe.once('listening', r));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const client = await LspClient.start(['--remote', `http://127.0.0.1:${port}/v1`]);
    try {
      const status = await settled(client);
      assert.equal(status.state, 'error');
      assert.match(status.error!, new RegExp(`cannot reach http://127\\.0\\.0\\.1:${port}: ECONNREFUSED`));
    } finally {
      await client.stop();
    }
  });

  test('a remote that goes away after start: the status turns to an error, and back when it answers', async () => {
    const second = await startHttpServer('codestral-second');
    const client = await LspClient.start(['--remote', second.base, '--remote-token', TOKEN], { maxTokens: 4 });
    try {
      await client.ready();
      client.open('file:///w/b.py', 'x = 1\n', 'python');
      await client.complete('file:///w/b.py', { line: 1, character: 0 });
      const exited = new Promise((r) => second.process.once('exit', r));
      second.process.kill();
      await exited;
      client.insert('file:///w/b.py', { line: 1, character: 0 }, 'y');
      await assert.rejects(client.complete('file:///w/b.py', { line: 1, character: 1 }), /cannot reach/);
      const last = client.statuses.at(-1)!;
      assert.equal(last.state, 'error');
      assert.match(last.error!, /cannot reach/);
      assert.equal(last.remoteModel, 'codestral-second');
    } finally {
      await client.stop();
      fs.rmSync(path.dirname(second.dir), { recursive: true, force: true });
    }
  });
});

describe('remote backend: completions as the editor gets them', () => {
  test('items stream from the remote (template mode, discovered model)', async () => {
    const client = await LspClient.start(['--remote', remote.base, '--remote-token', TOKEN], { maxTokens: 8 });
    try {
      await client.ready();
      client.open('file:///w/c.py', 'import math\n\ndef area(r):\n    ', 'python');
      const items = itemsOf(await client.complete('file:///w/c.py', { line: 3, character: 4 }));
      const stats = await client.lastStats();
      assert.equal(stats.template, 'mistral');
      assert.ok(stats.promptTokens! > 5, `the remote reported ${stats.promptTokens} prompt tokens`);
      assert.ok(Array.isArray(items));
    } finally {
      await client.stop();
    }
  });
});
