// A hung engine call: the server notices it (the engine works off its event loop), says
// so in one line and exits, so that the editor starts a fresh one. Work that streams is
// never mistaken for a hang, however long it runs.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, describe, test } from 'node:test';
import { LspClient } from '../helpers/lsp-client';
import { SMALL, writeTinyModel } from '../helpers/tiny-model';
import { tokenizerPath } from '../helpers/tokenizers';

const dir = writeTinyModel({ ...SMALL, vocab: 32768, eos: 32767 }, 11, { tokenizerFrom: tokenizerPath('v3', 'tokenizer.json') });
after(() => fs.rmSync(dir, { recursive: true, force: true }));

async function startWithFault(args: string[], fault?: string): Promise<LspClient> {
  const previous = process.env.TRAMONTANE_TEST_FAULT;
  if (fault) process.env.TRAMONTANE_TEST_FAULT = fault;
  try {
    return await LspClient.start(['--model', dir, ...args], { maxTokens: 8 });
  } finally {
    if (previous === undefined) delete process.env.TRAMONTANE_TEST_FAULT;
    else process.env.TRAMONTANE_TEST_FAULT = previous;
  }
}

describe('hung engine calls', () => {
  test('a call without progress past --hang-limit ends the server with one line', async () => {
    const client = await startWithFault(['--hang-limit', '1'], 'engine-hang');
    try {
      await client.ready();
      const exited = new Promise<number | null>((resolve) => client.process.once('exit', (code) => resolve(code)));
      client.open('file:///h.py', 'def f(x):\n    ', 'python');
      void client.complete('file:///h.py', { line: 1, character: 4 }).catch(() => undefined);
      const started = Date.now();
      const code = await Promise.race([exited, new Promise<'running'>((r) => setTimeout(() => r('running'), 10_000))]);
      assert.equal(code, 1, 'the server exited with status 1');
      assert.ok(Date.now() - started < 5000, `after ${Date.now() - started} ms`);
      assert.match(client.stderr, /tramontane: an engine call made no progress for \d+ s \(--hang-limit\): exiting so that a fresh server can start\n/);
    } finally {
      await client.stop();
    }
  });

  test('a long answer that streams is not a hang', async () => {
    const client = await startWithFault(['--hang-limit', '1']);
    try {
      await client.ready();
      // Long enough to outlast the limit several times over: greedy, the tiny model soon
      // repeats itself, which its drafts speed up (4,000 tokens took 1.45 s) and the
      // repetition guard ends; sampled, it does neither (8,000 tokens: about 5 s here).
      const result = await client.chat({ messages: [{ role: 'user', content: 'Tell me a long story.' }], maxTokens: 8000, temperature: 1 });
      assert.equal(result.generatedTokens, 8000);
      assert.ok(result.totalMs > 1500, `one answer ran ${result.totalMs} ms, past the limit of 1 s`);
      assert.equal(client.process.exitCode, null, 'still running');
      assert.equal((await client.ready()).state, 'ready');
    } finally {
      await client.stop();
    }
  });
});
