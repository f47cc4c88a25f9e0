// The watchdog against a real `tramontane serve --stdio`: a server whose engine is busy
// (here: a call that never returns) still answers pings and is left alone; a frozen
// process (SIGSTOP) is reported as hung within the timeout.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { CancellationTokenSource } from 'vscode-languageserver-protocol/node';
import { Watchdog } from '../../extension/sidecar/watchdog';
import { PingRequest } from '../../server/protocol';
import { LspClient } from '../helpers/lsp-client';
import { SMALL, writeTinyModel } from '../helpers/tiny-model';
import { tokenizerPath } from '../helpers/tokenizers';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('server watchdog', { skip: process.platform === 'win32' ? 'needs SIGSTOP' : undefined }, () => {
  let client: LspClient;
  let modelDir: string;

  before(async () => {
    modelDir = writeTinyModel({ ...SMALL, vocab: 32768, eos: 32767 }, 11, { tokenizerFrom: tokenizerPath('v3', 'tokenizer.json') });
    const previous = process.env.TRAMONTANE_TEST_FAULT;
    process.env.TRAMONTANE_TEST_FAULT = 'engine-hang';
    try {
      client = await LspClient.start(['--model', modelDir, '--hang-limit', '600']);
    } finally {
      if (previous === undefined) delete process.env.TRAMONTANE_TEST_FAULT;
      else process.env.TRAMONTANE_TEST_FAULT = previous;
    }
    await client.ready();
  });

  after(async () => {
    client.process.kill('SIGKILL');
    await client.stop();
    fs.rmSync(modelDir, { recursive: true, force: true });
  });

  it('leaves a busy server alone and reports a frozen one', async () => {
    const hung: number[] = [];
    const watchdog = new Watchdog(
      () => client.connection.sendRequest(PingRequest, {}),
      (silentMs) => hung.push(silentMs),
      { intervalMs: 100, timeoutMs: 1500 },
    );
    watchdog.start();
    try {
      // An engine call that never returns: the server's event loop still answers.
      client.open('file:///busy.py', 'def f(x):\n    ', 'python');
      const cancel = new CancellationTokenSource();
      void client.complete('file:///busy.py', { line: 1, character: 4 }, { cancel }).catch(() => undefined);
      await sleep(2500);
      assert.deepEqual(hung, [], 'a busy engine is not a hang');

      client.process.kill('SIGSTOP');
      const stoppedAt = Date.now();
      while (hung.length === 0 && Date.now() - stoppedAt < 5000) await sleep(50);
      assert.equal(hung.length, 1, 'the frozen server is reported once');
      assert.ok(hung[0] >= 1500, `reported after ${hung[0]} ms of silence`);
      assert.ok(Date.now() - stoppedAt < 2500, `noticed ${Date.now() - stoppedAt} ms after it froze`);
      await sleep(500);
      assert.equal(hung.length, 1, 'and only once');
    } finally {
      watchdog.stop();
      client.process.kill('SIGCONT');
    }
  });
});
