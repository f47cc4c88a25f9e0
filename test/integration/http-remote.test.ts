// `tramontane serve --http`: the engine as an OpenAI-compatible server, and the
// language server's remote backend talking to it (a second real server process).
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { ResponseError } from 'vscode-languageserver-protocol/node';
import { sseData } from '../../server/backends/sse';
import { ErrorCodes } from '../../server/protocol';
import { serveHttp, tramontane } from '../helpers/cli';
import { LspClient, itemsOf } from '../helpers/lsp-client';
import { SMALL, writeTinyModel } from '../helpers/tiny-model';
import { tokenizerPath } from '../helpers/tokenizers';

const TOKEN = 'test-secret-token';
const dir = writeTinyModel({ ...SMALL, vocab: 32768, eos: 32767 }, 11, { tokenizerFrom: tokenizerPath('v3', 'tokenizer.json') });
let server: ChildProcess;
let base: string;

before(async () => {
  ({ base, process: server } = await serveHttp(['--model', dir, '--token', TOKEN]));
});
after(() => {
  server.kill();
  fs.rmSync(dir, { recursive: true, force: true });
});

const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
const post = (route: string, body: unknown, headers: Record<string, string> = auth) =>
  fetch(`${base}${route}`, { method: 'POST', headers, body: JSON.stringify(body) });

describe('OpenAI-compatible HTTP endpoint', () => {
  test('the bearer token is required', async () => {
    const denied = await fetch(`${base}/v1/models`);
    assert.equal(denied.status, 401);
    assert.match((await denied.json()).error.message, /bearer token/);
    const wrong = await fetch(`${base}/v1/models`, { headers: { authorization: 'Bearer nope' } });
    assert.equal(wrong.status, 401);
    const models = await fetch(`${base}/v1/models`, { headers: auth });
    assert.equal(models.status, 200);
    assert.equal((await models.json()).data[0].object, 'model');
  });

  test('/v1/completions streams server-sent events, ends with [DONE], reports cached prompt tokens', async () => {
    const body = { prompt: 'def fibonacci(n):\n    ', max_tokens: 12, temperature: 0, stream: true, stream_options: { include_usage: true } };
    const run = async () => {
      const response = await post('/v1/completions', body);
      assert.equal(response.status, 200);
      assert.match(response.headers.get('content-type')!, /text\/event-stream/);
      const events: string[] = [];
      for await (const data of sseData(response.body!)) events.push(data);
      assert.equal(events.at(-1), '[DONE]');
      const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
      const text = chunks.map((c) => c.choices[0]?.text ?? '').join('');
      const usage = chunks.at(-1).usage;
      assert.equal(chunks.at(-2).choices[0].finish_reason, 'length');
      return { text, usage, pieces: chunks.filter((c) => c.choices[0]?.text).length };
    };
    const first = await run();
    assert.ok(first.pieces > 1, 'streamed in pieces');
    assert.equal(first.usage.completion_tokens, 12);
    assert.equal(first.usage.prompt_tokens_details.cached_tokens, 0);
    const second = await run();
    assert.equal(second.text, first.text, 'greedy: the same text again');
    // The session still holds the prompt: at most its last token is recomputed.
    assert.ok(second.usage.prompt_tokens_details.cached_tokens >= second.usage.prompt_tokens - 1);
  });

  test('non-streamed completions and chat completions', async () => {
    const completion = await (await post('/v1/completions', { prompt: 'x = ', max_tokens: 4, temperature: 0 })).json();
    assert.equal(completion.object, 'text_completion');
    assert.equal(completion.usage.completion_tokens, 4);
    const chat = await (await post('/v1/chat/completions', { messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hello' }], max_tokens: 6, temperature: 0 })).json();
    assert.equal(chat.object, 'chat.completion');
    assert.equal(chat.choices[0].message.role, 'assistant');
    assert.equal(chat.usage.completion_tokens, 6);
    assert.equal(typeof chat.choices[0].message.content, 'string');
  });

  test('streamed chat completions: a role chunk, content deltas, [DONE]', async () => {
    const response = await post('/v1/chat/completions', { messages: [{ role: 'user', content: 'Hi' }], max_tokens: 8, temperature: 0, stream: true });
    const events: string[] = [];
    for await (const data of sseData(response.body!)) events.push(data);
    assert.equal(events.at(-1), '[DONE]');
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
    assert.equal(chunks[0].choices[0].delta.role, 'assistant');
    assert.ok(chunks.filter((c) => c.choices[0].delta.content).length > 1);
    assert.equal(chunks.at(-1).choices[0].finish_reason, 'length');
  });

  test('bad requests get 400 with a message; unknown routes 404', async () => {
    const bad = await fetch(`${base}/v1/completions`, { method: 'POST', headers: auth, body: '{not json' });
    assert.equal(bad.status, 400);
    assert.match((await bad.json()).error.message, /JSON object/);
    assert.equal((await post('/v1/completions', { prompt: 42 })).status, 400);
    assert.equal((await post('/v1/completions', { prompt: 'x', temperature: -1 })).status, 400);
    assert.equal((await post('/v1/chat/completions', { messages: [{ role: 'tool', content: 'x' }] })).status, 400);
    assert.equal((await post('/v1/chat/completions', { messages: [{ role: 'assistant', content: 'x' }] })).status, 400);
    assert.equal((await fetch(`${base}/v2/nothing`, { headers: auth })).status, 404);
  });

  test('a client that goes away stops its generation', async () => {
    const abort = new AbortController();
    const response = await fetch(`${base}/v1/completions`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ prompt: 'Once upon a time', max_tokens: 60000, temperature: 0, stream: true }),
      signal: abort.signal,
    });
    let events = 0;
    try {
      for await (const _ of sseData(response.body!)) if (++events === 5) abort.abort();
    } catch {
      // aborted
    }
    // One engine, one request at a time: this answers promptly only if the other stopped.
    const started = Date.now();
    const next = await (await post('/v1/completions', { prompt: 'x', max_tokens: 2, temperature: 0 })).json();
    assert.equal(next.usage.completion_tokens, 2);
    assert.ok(Date.now() - started < 5000, `waited ${Date.now() - started} ms`);
  });

  test('only loopback addresses can be bound', () => {
    const result = tramontane(['serve', '--model', dir, '--http', '0.0.0.0:8080']);
    assert.equal(result.status, 1);
    assert.match(result.stderr, /^tramontane: --http binds to loopback only/);
  });
});

describe('remote backend against a second tramontane server', () => {
  let client: LspClient;
  before(async () => {
    client = await LspClient.start(['--remote', base, '--remote-token', TOKEN], { fimTemplate: 'mistral', maxTokens: 12 });
    await client.ready();
  });
  after(() => client.stop());

  test('completions stream from the remote server, and its cache reuse is reported', async () => {
    const uri = 'file:///work/remote.py';
    const text = Array.from({ length: 40 }, (_, i) => `def f${i}(x):\n    return x * ${i}\n`).join('\n') + '\ndef g(y):\n    ';
    client.open(uri, text, 'python');
    const end = { line: text.split('\n').length - 1, character: 4 };
    let partials = 0;
    const result = await client.complete(uri, end, { onPartial: () => partials++ });
    const first = await client.lastStats();
    assert.ok(first.outcome === 'complete' || first.outcome === 'length', first.outcome);
    assert.ok(first.generatedTokens > 0);
    assert.ok(first.promptTokens! > 300, `prompt of ${first.promptTokens} tokens`);
    assert.ok(partials > 0 || itemsOf(result).length === 0);

    client.insert(uri, end, 'r');
    await client.complete(uri, { line: end.line, character: 5 });
    const second = await client.lastStats();
    if (second.outcome !== 'cached') {
      assert.ok(second.computedTokens! <= 8, `the remote recomputed ${second.computedTokens} tokens`);
      assert.equal(second.reusedTokens! + second.computedTokens!, second.promptTokens);
    }
  });

  test('chat streams through /v1/chat/completions', async () => {
    let streamed = '';
    const result = await client.chat({ messages: [{ role: 'user', content: 'Explain recursion.' }], maxTokens: 10 }, (d) => (streamed += d));
    assert.equal(result.generatedTokens, 10);
    assert.equal(streamed, result.text);
    assert.ok(result.text.length > 0);
  });

  test('--remote-fim suffix: the server applies the FIM encoding, token for token as the native backend', async () => {
    const text = 'import math\n\ndef area(r):\n    return math.pi * r * r\n\n\ndef perimeter(r):\n    \n\nprint(area(2))\n';
    const position = { line: 7, character: 4 };
    const remote = await LspClient.start(['--remote', base, '--remote-token', TOKEN, '--remote-fim', 'suffix'], { maxTokens: 8 });
    const native = await LspClient.start(['--model', dir], { maxTokens: 8 });
    try {
      await Promise.all([remote.ready(), native.ready()]);
      for (const c of [remote, native]) {
        c.open('file:///work/circle.py', text, 'python');
        await c.complete('file:///work/circle.py', position);
      }
      const [r, n] = [await remote.lastStats(), await native.lastStats()];
      assert.ok(n.promptTokens! > 20);
      assert.equal(r.promptTokens, n.promptTokens, 'the same prompt tokens');
      assert.equal(r.generatedTokens, n.generatedTokens);
    } finally {
      await Promise.all([remote.stop(), native.stop()]);
    }
  });

  test('a wrong token at the remote is a clear RequestFailed', async () => {
    const bad = await LspClient.start(['--remote', base, '--remote-token', 'wrong'], { fimTemplate: 'mistral' });
    try {
      // Refused when the server first asks the remote for its models.
      await assert.rejects(bad.ready(), /answered 401: missing or wrong bearer token/);
      bad.open('file:///x.py', 'x = 1\n', 'python');
      await assert.rejects(bad.complete('file:///x.py', { line: 1, character: 0 }), (error: unknown) => {
        assert.ok(error instanceof ResponseError);
        assert.equal(error.code, ErrorCodes.RequestFailed);
        assert.match(error.message, /answered 401: missing or wrong bearer token/);
        return true;
      });
    } finally {
      await bad.stop();
    }
  });
});
