// `tramontane serve --http` on the embedded demo model: completions and chat report the
// tokens drafted from the context (speculative decoding) in OpenAI's usage fields,
// `completion_tokens_details.accepted_prediction_tokens` / `rejected_prediction_tokens`.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { after, before, test } from 'node:test';
import { sseData } from '../../server/backends/sse';
import { postJson, serveHttp } from '../helpers/cli';

const TOKEN = 'speculative-test-token';
let server: ChildProcess;
let base: string;

before(async () => {
  ({ base, process: server } = await serveHttp(['--backend', 'cpu', '--token', TOKEN]));
});
after(() => server.kill());

const post = (route: string, body: unknown) => postJson(base, TOKEN, route, body);

// Code that repeats a pattern, cut where the next repetition starts: drafts come from it.
const PROMPT = 'const config = {\n  host: options.host,\n  port: options.port,\n  user: options.user,\n  password: options.password,\n  database: options.';

interface Details {
  accepted_prediction_tokens: number;
  rejected_prediction_tokens: number;
}

function checkDetails(usage: { completion_tokens: number; completion_tokens_details?: Details }): Details {
  const details = usage.completion_tokens_details;
  assert.ok(details, `no completion_tokens_details in ${JSON.stringify(usage)}`);
  assert.ok(Number.isInteger(details.accepted_prediction_tokens) && details.accepted_prediction_tokens >= 0);
  assert.ok(Number.isInteger(details.rejected_prediction_tokens) && details.rejected_prediction_tokens >= 0);
  // Accepted drafts are part of the output.
  assert.ok(details.accepted_prediction_tokens <= usage.completion_tokens);
  return details;
}

test('a completion reports the drafted tokens it accepted and rejected', async () => {
  const body = { prompt: PROMPT, max_tokens: 48, temperature: 0 };
  const plain = await (await post('/v1/completions', body)).json();
  const details = checkDetails(plain.usage);
  assert.ok(details.accepted_prediction_tokens > 0, JSON.stringify(plain.usage));

  // Streamed, the same fields come in the usage chunk.
  const response = await post('/v1/completions', { ...body, stream: true, stream_options: { include_usage: true } });
  const events: string[] = [];
  for await (const data of sseData(response.body!)) events.push(data);
  assert.equal(events.at(-1), '[DONE]');
  const usage = JSON.parse(events.at(-2)!).usage;
  assert.ok(checkDetails(usage).accepted_prediction_tokens > 0, JSON.stringify(usage));
  assert.equal(events.slice(0, -1).map((e) => JSON.parse(e).choices[0]?.text ?? '').join(''), plain.choices[0].text);
});

test('sampled completions draft too (temperature > 0)', async () => {
  let accepted = 0;
  let rejected = 0;
  for (let i = 0; i < 4; i++) {
    const result = await (await post('/v1/completions', { prompt: PROMPT, max_tokens: 32, temperature: 0.3 })).json();
    const details = checkDetails(result.usage);
    accepted += details.accepted_prediction_tokens;
    rejected += details.rejected_prediction_tokens;
  }
  assert.ok(accepted > 0, `${accepted} accepted, ${rejected} rejected`);
});

test('a chat answer reports them, summed over its steps', async () => {
  const code = 'def area_of_square(side):\n    return side * side\n\n\ndef area_of_rectangle(width, height):\n    return width * height\n';
  const body = { messages: [{ role: 'user', content: `Repeat this code exactly:\n\n${code}` }], max_tokens: 64, temperature: 0 };
  const chat = await (await post('/v1/chat/completions', body)).json();
  checkDetails(chat.usage);
  const response = await post('/v1/chat/completions', { ...body, stream: true, stream_options: { include_usage: true } });
  const events: string[] = [];
  for await (const data of sseData(response.body!)) events.push(data);
  checkDetails(JSON.parse(events.at(-2)!).usage);
});
