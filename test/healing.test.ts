// Token healing (native/engine/heal.h) on the embedded demo model: the prompt's last token
// taken off and named as healToken, the first token picked among those that begin with
// its text, and the output without that text.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { loadModel, type Model } from '../server/engine/engine';
import { DEFAULT_MODEL } from './helpers/default-model-reference';

describe('token healing', () => {
  let model: Model;
  before(async () => {
    model = await loadModel(DEFAULT_MODEL);
  });
  after(() => model.dispose());

  // A token's text where it continues a text (its leading '▁' a space).
  const textOf = (id: number) => {
    const a = model.tokenize('a')[1] ?? model.tokenize('a')[0];
    return model.detokenize([a, id]).slice(model.detokenize([a]).length);
  };

  async function complete(text: string, options: { heal: boolean; maxDraft?: number; temperature?: number; seed?: number }) {
    const prompt = model.tokenize(text, { bos: true });
    const session = model.createSession({ maxDraft: options.maxDraft });
    try {
      await session.reuse(options.heal ? prompt.slice(0, -1) : prompt);
      let streamed = '';
      const result = await session.generate(
        {
          temperature: options.temperature ?? 0,
          seed: options.seed,
          maxTokens: 16,
          stop: ['\n'],
          textStart: false,
          healToken: options.heal ? prompt[prompt.length - 1] : undefined,
        },
        { onText: (piece) => (streamed += piece) },
      );
      assert.equal(streamed, result.text, 'the streamed pieces add up to the text');
      return { prompt, result };
    } finally {
      session.dispose();
    }
  }

  test('a call closed after a lone quote: `");` is one token, and healing finds it', async () => {
    const text = 'var Subscriber_1 = require("./Subscriber"';
    assert.equal(textOf(model.tokenize(text, { bos: true }).at(-1)!), '"', 'the prompt ends in a lone quote token');
    const plain = await complete(text, { heal: false });
    const healed = await complete(text, { heal: true });
    assert.notEqual(plain.result.text, ');', 'unhealed, the model does not close the call');
    assert.equal(healed.result.text, ');');
    assert.equal(textOf(healed.result.tokens[0]), '");');
  });

  test('a word cut short is finished, not followed by a new one', async () => {
    const healed = await complete('def area(radius):\n    return math.pi * radius * rad', { heal: true });
    assert.equal(healed.result.text, 'ius');
  });

  test('sampled: the first token always begins with the healed text, which the output leaves out', async () => {
    const text = 'const total = items.reduce((sum, item) => sum + item.pri';
    for (let seed = 1; seed <= 12; seed++) {
      const { prompt, result } = await complete(text, { heal: true, temperature: 1, seed });
      const healedText = textOf(prompt[prompt.length - 1]);
      const first = textOf(result.tokens[0]);
      assert.ok(first.startsWith(healedText), `seed ${seed}: first token ${JSON.stringify(first)} begins with ${JSON.stringify(healedText)}`);
      const whole = result.tokens.map(textOf).join('');
      assert.equal(result.text, whole.slice(healedText.length).split('\n')[0], `seed ${seed}: the text after the healed part, to the stop string`);
    }
  });

  test('drafting changes nothing in a healed greedy completion', async () => {
    const text = 'import numpy as np\nimport numpy.linalg as la\nimport numpy.random as rn\nimport numpy.fft as f';
    const off = await complete(text, { heal: true, maxDraft: 0 });
    const on = await complete(text, { heal: true, maxDraft: 8 });
    assert.deepEqual(on.result.tokens, off.result.tokens);
    assert.equal(on.result.text, off.result.text);
  });

  test('a control token, an id out of range or not an id is one clear error', async () => {
    const session = model.createSession();
    try {
      await session.reuse(model.tokenize('x = 1', { bos: true }));
      await assert.rejects(session.generate({ maxTokens: 2, healToken: model.tokenId('[INST]') }), /heal token 3 is a control token/);
      await assert.rejects(session.generate({ maxTokens: 2, healToken: 40000 }), /heal token 40000 is out of range/);
      await assert.rejects(session.generate({ maxTokens: 2, healToken: -1 }), /healToken must be a token id/);
      await assert.rejects(session.generate({ maxTokens: 2, healToken: 1.5 }), /healToken must be a token id/);
      // The session is intact: it still generates, healed or not.
      assert.equal((await session.generate({ maxTokens: 2 })).tokens.length, 2);
    } finally {
      session.dispose();
    }
  });
});
