// A model that does not fit the GPU: the engine's own line (with the numbers) reaches the
// model status unchanged, followed by what to do, and the server stays up for the editor
// and the HTTP API alike. This machine has no GPU: the engine's load fails with the text
// the CUDA backend writes (native/cuda/model.cu) through TRAMONTANE_TEST_FAULT.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, test } from 'node:test';
import { ResponseError } from 'vscode-languageserver-protocol/node';
import { withMemoryAdvice } from '../../server/backends/memory-advice';
import { ErrorCodes, PingRequest } from '../../server/protocol';
import { LspClient } from '../helpers/lsp-client';
import { ROOT } from '../helpers/tokenizers';

const ENGINE_LINE = "not enough GPU memory for the model's weights: need 13824 MiB, 7900 MiB free of 8192 MiB";
const ADVICE = '; use a quantized model file, or the CPU (--backend cpu, setting tramontane.model.backend)';

function withFault<T>(start: () => T): T {
  const previous = process.env.TRAMONTANE_TEST_FAULT;
  process.env.TRAMONTANE_TEST_FAULT = `load-error:${ENGINE_LINE}`;
  try {
    return start();
  } finally {
    if (previous === undefined) delete process.env.TRAMONTANE_TEST_FAULT;
    else process.env.TRAMONTANE_TEST_FAULT = previous;
  }
}

describe('GPU out of memory at load', () => {
  test('the language server reports the numbers and what to do in one line, and stays up', async () => {
    const client = await withFault(() => LspClient.start([]));
    try {
      await assert.rejects(client.ready(), (error: Error) => error.message === ENGINE_LINE + ADVICE);
      const status = client.statuses.at(-1)!;
      assert.equal(status.state, 'error');
      assert.equal(status.error, ENGINE_LINE + ADVICE);
      assert.ok(!status.error!.includes('\n'));
      client.open('file:///x.py', 'x = 1\n', 'python');
      await assert.rejects(client.complete('file:///x.py', { line: 1, character: 0 }), (error: unknown) => {
        assert.ok(error instanceof ResponseError);
        assert.equal(error.code, ErrorCodes.RequestFailed);
        assert.equal(error.message, `model failed to load: ${ENGINE_LINE}${ADVICE}`);
        return true;
      });
      assert.deepEqual(await client.connection.sendRequest(PingRequest, {}), {});
      assert.equal(client.process.exitCode, null, 'still running');
    } finally {
      await client.stop();
    }
  });

  test('the HTTP API logs the same line and keeps answering', async () => {
    const child = withFault(() =>
      spawn(process.execPath, [path.join(ROOT, 'bin', 'tramontane.js'), 'serve', '--http', '127.0.0.1:0', '--no-auth'], { stdio: ['ignore', 'ignore', 'pipe'] }),
    );
    try {
      let stderr = '';
      const port = await new Promise<number>((resolve, reject) => {
        child.stderr!.on('data', (data: Buffer) => {
          stderr += data.toString();
          const match = /on http:\/\/127\.0\.0\.1:(\d+)\/v1/.exec(stderr);
          if (match && stderr.includes('model failed to load')) resolve(Number(match[1]));
        });
        child.once('exit', (code) => reject(new Error(`exited with ${code}: ${stderr}`)));
      });
      assert.match(stderr, new RegExp(`tramontane: model failed to load: ${ENGINE_LINE}; use a quantized model file[^\\n]*\\n`));
      const health = await fetch(`http://127.0.0.1:${port}/health`);
      assert.equal(health.status, 200);
      const completion = await fetch(`http://127.0.0.1:${port}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ prompt: 'x', max_tokens: 1 }),
      });
      assert.equal(completion.status, 500);
      assert.equal((await completion.json()).error.message, ENGINE_LINE + ADVICE);
      assert.equal(child.exitCode, null, 'still running');
    } finally {
      child.kill();
    }
  });

  test("a session's cache that does not fit: a smaller context, fewer sessions or the CPU", () => {
    const line = 'not enough GPU memory for a session (KV cache 4096 MiB + scratch 12 MiB): need 4108 MiB, 900 MiB free of 81559 MiB';
    assert.equal(withMemoryAdvice(line), `${line}; use a smaller context (serve --context N, setting tramontane.model.context), fewer warm documents (--completion-sessions), or the CPU (--backend cpu)`);
    // With a sliding window the cache is window + slack: the context does not size it.
    assert.equal(withMemoryAdvice(line, true), `${line}; use a smaller slack (serve --slack N), fewer warm documents (--completion-sessions), or the CPU (--backend cpu)`);
    assert.equal(withMemoryAdvice('model.safetensors: file is truncated'), 'model.safetensors: file is truncated');
  });
});
