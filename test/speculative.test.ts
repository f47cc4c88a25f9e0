// Speculative greedy decoding (drafts from the context, verified in one forward pass) on
// the embedded demo model: the same text as plain decoding, in fewer forward passes where
// the answer copies from the prompt.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { loadModel, type Model } from '../server/engine/engine';

const DEMO = path.join(__dirname, '..', 'models', 'default');

// Code that repeats a pattern, cut where the next repetition starts.
const PROMPTS = [
  'def area_of_square(side):\n    return side * side\n\n\ndef area_of_rectangle(width, height):\n    return width * height\n\n\ndef area_of_',
  'const config = {\n  host: options.host,\n  port: options.port,\n  user: options.user,\n  password: options.password,\n  database: options.',
  'import os\nimport sys\nimport json\n\nfor name in ["alpha", "beta", "gamma"]:\n    print(name)\nfor name in ["alpha", "beta", "gamma"]:\n',
];

let model: Model;
before(async () => {
  model = await loadModel(DEMO, { backend: 'cpu' });
});
after(() => model.dispose());

async function decode(prompt: string, maxDraft: number, maxTokens = 48) {
  const session = model.createSession({ maxDraft });
  await session.feed(model.tokenize(prompt, { bos: true }));
  const streamed: string[] = [];
  const result = await session.generate({ maxTokens, textStart: false }, { onText: (piece) => streamed.push(piece) });
  const held = session.tokens;
  session.dispose();
  return { result, streamed: streamed.join(''), held };
}

test('drafting gives token for token the text of plain greedy decoding', async () => {
  let drafted = 0;
  let accepted = 0;
  let steps = 0;
  let tokens = 0;
  for (const prompt of PROMPTS) {
    const plain = await decode(prompt, 0);
    const fast = await decode(prompt, 8);
    assert.deepEqual(fast.result.tokens, plain.result.tokens, prompt);
    assert.equal(fast.result.text, plain.result.text);
    assert.equal(fast.streamed, plain.streamed);
    assert.equal(fast.result.finish, plain.result.finish);
    assert.deepEqual(fast.held, plain.held);
    assert.equal(plain.result.drafted, 0);
    assert.equal(plain.result.steps, plain.result.tokens.length);
    assert.equal(fast.result.steps + fast.result.accepted, fast.result.tokens.length);
    drafted += fast.result.drafted;
    accepted += fast.result.accepted;
    steps += fast.result.steps;
    tokens += fast.result.tokens.length;
  }
  assert.ok(accepted > 0 && steps < tokens, `${accepted}/${drafted} drafts accepted, ${steps} steps for ${tokens} tokens`);
});

test('maxDraft must not be negative', () => {
  assert.throws(() => model.createSession({ maxDraft: -1 }), /maxDraft/);
});
