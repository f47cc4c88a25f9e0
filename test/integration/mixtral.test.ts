// A small Mixtral (8 experts, top 2) with Mistral's v1 vocabulary, written in each layout
// the engine reads: HF (MixtralForCausalLM), Mistral's own (params.json with its `moe`
// section) and GGUF (llama.cpp's layout, by tramontane-gguf_convert). The same weights
// give the same logits and the same completion in all three; the language server
// completes and chats with it ([INST] template, prefix-only completion) and the HTTP API
// answers a chat.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { serveHttp, tramontane } from '../helpers/cli';
import { itemsOf, LspClient } from '../helpers/lsp-client';
import { SMALL, type TinyConfig, writeTinyModel } from '../helpers/tiny-model';
import { ROOT, tokenizerPath } from '../helpers/tokenizers';

const MIXTRAL: TinyConfig = { ...SMALL, vocab: 32000, window: null, ropeTheta: 1e6, experts: 8, expertsPerToken: 2 };
const SEED = 7;
const PROMPT = 'def fibonacci(n):';

const tokenizer = tokenizerPath('v1', 'tokenizer.model');
const hf = writeTinyModel(MIXTRAL, SEED, { tokenizerFrom: tokenizer });
const consolidated = writeTinyModel(MIXTRAL, SEED, { tokenizerFrom: tokenizer, layout: 'consolidated' });
const ggufDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tramontane-mixtral-gguf-'));
const gguf = path.join(ggufDir, 'mixtral-F32.gguf');
after(() => {
  for (const dir of [hf, consolidated, ggufDir]) fs.rmSync(dir, { recursive: true, force: true });
});

before(() => {
  const convert = spawnSync(path.join(ROOT, 'build', 'bin', 'tramontane-gguf_convert'), [hf, gguf, 'F32'], { encoding: 'utf8' });
  assert.equal(convert.status, 0, convert.stderr);
});

function logits(model: string, tokens: number[]): number[][] {
  const result = tramontane(['logits', '--model', model, '--backend', 'cpu', '--tokens', tokens.join(',')]);
  assert.equal(result.status, 0, result.stderr);
  return (JSON.parse(result.stdout) as { logits: number[][] }).logits;
}

describe('a Mixtral in every layout', () => {
  test('HF, consolidated and GGUF give the same logits at every position', () => {
    const tokens = [1, 1500, 29871, 7, 3000, 12, 31999, 42, 42, 42, 900, 17];
    const reference = logits(hf, tokens);
    for (const model of [consolidated, gguf]) {
      const other = logits(model, tokens);
      let worst = 0;
      reference.forEach((row, p) => row.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - other[p][i])))));
      assert.ok(worst < 1e-5, `${path.basename(model)}: max |Δ| ${worst}`);
    }
  });

  test('the command line completes the same text from each layout', () => {
    const texts = [hf, consolidated, gguf].map((model) => {
      const result = tramontane(['complete', '--model', model, '--backend', 'cpu', '--max-tokens', '12', PROMPT]);
      assert.equal(result.status, 0, result.stderr);
      return result.stdout;
    });
    assert.ok(texts[0].length > 0, 'some text was generated');
    assert.equal(texts[1], texts[0]);
    assert.equal(texts[2], texts[0]);
  });
});

describe('a Mixtral behind the language server', () => {
  let client: LspClient;
  before(async () => {
    client = await LspClient.start(['--model', gguf, '--backend', 'cpu'], {});
  });
  after(() => client.stop());

  test('loads with the [INST] chat template and prefix-only completion', async () => {
    const status = await client.ready();
    assert.equal(status.chatTemplate, 'mistral-v1');
    assert.equal(status.template, 'prefix-only');
  });

  test('completes inline and answers a chat', async () => {
    const uri = 'file:///work/fib.py';
    const text = `${PROMPT}\n    `;
    client.open(uri, text, 'python');
    const items = itemsOf(await client.complete(uri, { line: 1, character: 4 }));
    assert.equal(items.length, 1, 'one inline suggestion');
    const suggestion = items[0].insertText;
    assert.ok((typeof suggestion === 'string' ? suggestion : suggestion.value).length > 0, 'with text');
    const stats = await client.lastStats();
    assert.ok(stats.generatedTokens >= 1, `tokens generated: ${JSON.stringify(stats)}`);

    let streamed = '';
    const answer = await client.chat({ messages: [{ role: 'user', content: 'What does fibonacci do?' }], maxTokens: 8 }, (d) => (streamed += d));
    assert.ok(answer.generatedTokens >= 1 && answer.generatedTokens <= 8, `generated ${answer.generatedTokens}`);
    assert.equal(streamed, answer.text);
    // The prompt is BOS + "[INST] What does fibonacci do? [/INST]" in the v1 vocabulary.
    const tokenized = tramontane(['tokenize', '--model', gguf, '[INST] What does fibonacci do? [/INST]']);
    assert.equal(tokenized.status, 0, tokenized.stderr);
    const ids = JSON.parse(tokenized.stdout) as number[];
    assert.equal(answer.promptTokens, 1 + ids.length);
  });
});

describe('a Mixtral behind the HTTP API', () => {
  let server: Awaited<ReturnType<typeof serveHttp>>;
  before(async () => {
    server = await serveHttp(['--model', consolidated, '--backend', 'cpu', '--no-auth']);
  });
  after(() => server.process.kill());

  test('answers a chat completion', async () => {
    const response = await fetch(`${server.base}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ messages: [{ role: 'user', content: 'Write hello world in C.' }], max_tokens: 6, temperature: 0 }),
    });
    assert.equal(response.status, 200);
    const body = (await response.json()) as { choices: { message: { content: string } }[]; usage: { completion_tokens: number } };
    assert.equal(typeof body.choices[0].message.content, 'string');
    assert.ok(body.usage.completion_tokens >= 1 && body.usage.completion_tokens <= 6);
  });
});
