// Chat and explain answers through a real `tramontane serve --stdio`: an answer that
// loops is stopped and counted, and a long conversation with a sliding-window model
// keeps only what the window can see.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { openBackend } from '../../server/backends/open';
import type { ChatMessage } from '../../server/protocol';
import { LspClient } from '../helpers/lsp-client';
import { SMALL, writeTinyModel } from '../helpers/tiny-model';
import { tokenizerPath } from '../helpers/tokenizers';

describe('the repetition guard (the demo model, greedy)', () => {
  let client: LspClient;
  before(async () => {
    client = await LspClient.start([], {});
    await client.ready();
  });
  after(() => client.stop());

  test('an explanation that repeats a sentence stops after its first copy, says so, and is counted', async () => {
    const uri = 'file:///work/geometry.py';
    client.open(uri, 'import math\n\n\ndef circle_area(radius):\n    return math.pi * radius ** 2\n\n\ndef rectangle_area(width, height):\n    return width * height\n\n\nclass Ellipse:\n    def __init__(self, center, width, height, angle):\n        self.center = center\n        self.width = width\n        self.height = height\n        self.angle = angle\n', 'python');
    let streamed = '';
    // Greedy, the demo model explains the Ellipse class with a NumPy-style Parameters
    // section whose `height` entry repeats.
    const result = await client.explain({ uri, range: { start: { line: 11, character: 0 }, end: { line: 17, character: 0 } }, maxTokens: 400 }, (d) => (streamed += d));
    assert.equal(result.finish, 'repetition');
    assert.ok(result.generatedTokens < 150, `stopped early: ${result.generatedTokens} tokens`);
    assert.ok(streamed.startsWith(result.text), 'the answer kept is what streamed first');
    // What streamed past the answer kept is the loop's second and third copies: the span
    // that repeats ends the answer, once.
    const copies = streamed.slice(result.text.length);
    const span = copies.slice(0, Math.floor(copies.length / 2));
    assert.ok(span.length >= 16 && copies.startsWith(span + span), `two more copies streamed after the answer kept: ${JSON.stringify(copies)}`);
    assert.ok(result.text.endsWith(span), `the answer kept ends with the first copy:\n${result.text}`);
    assert.equal(result.text.indexOf(span), result.text.length - span.length, `the span that repeats is in the answer once:\n${result.text}`);
    const stats = await client.connection.sendRequest<{ chat?: { answers: number; repetitionStops: number } }>('tramontane/stats', {});
    assert.deepEqual(stats.chat, { answers: 1, repetitionStops: 1 });
  });
});

describe('long conversations with a sliding-window model', () => {
  const dir = writeTinyModel({ ...SMALL, vocab: 32768, eos: 32767, window: 64 }, 3, { tokenizerFrom: tokenizerPath('v3', 'tokenizer.json') });
  let client: LspClient;
  before(async () => {
    client = await LspClient.start(['--model', dir], {});
    await client.ready();
  });
  after(async () => {
    await client.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('old turns the window cannot see are dropped, the question is kept', async () => {
    const question: ChatMessage = { role: 'user', content: 'And the area of a square?' };
    const alone = await client.chat({ messages: [question], maxTokens: 4 });
    const history: ChatMessage[] = [];
    for (let i = 0; i < 12; i++) {
      history.push({ role: 'user', content: `What is the area of a circle of radius ${i}?` }, { role: 'assistant', content: `It is pi times ${i} squared, about ${(Math.PI * i * i).toFixed(2)}.` });
    }
    const long = await client.chat({ messages: [...history, question], maxTokens: 4 });
    assert.ok(long.promptTokens! > alone.promptTokens!, 'the last exchanges are kept');
    assert.ok(long.promptTokens! + 4 <= 64, `the prompt fits the window of 64: ${long.promptTokens} tokens`);
    // A question longer than the window is still answered (the model sees its end).
    const longQuestion = await client.chat({ messages: [{ role: 'user', content: 'Explain this. '.repeat(40) }], maxTokens: 4 });
    assert.equal(longQuestion.generatedTokens, 4);
  });
});

describe('the context limit without a window', () => {
  test("the server's limit is the engine's cap, not the model's own larger one", async () => {
    const dir = writeTinyModel({ ...SMALL, vocab: 32768, eos: 32767, window: null }, 3, { tokenizerFrom: tokenizerPath('v3', 'tokenizer.json') });
    const config = JSON.parse(fs.readFileSync(`${dir}/config.json`, 'utf8'));
    fs.writeFileSync(`${dir}/config.json`, JSON.stringify({ ...config, max_position_embeddings: 131072 }));
    const backend = await openBackend({ kind: 'native', modelDir: dir, engine: 'cpu' });
    try {
      // Conversations are trimmed to this; past it the engine says "context full".
      assert.equal(backend.contextLimit, 32768);
    } finally {
      backend.dispose();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
