// generate's textStart option, which completions rely on: a suggestion continues the
// line, so its first token's leading space is text ("x =" + "▁1" is "x = 1").
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, test } from 'node:test';
import { loadModel } from '../../server/engine/engine';
import { SMALL, writeTinyModel } from '../helpers/tiny-model';
import { tokenizerPath } from '../helpers/tokenizers';

const dir = writeTinyModel({ ...SMALL, vocab: 32768, eos: 32767 }, 21, { tokenizerFrom: tokenizerPath('v3', 'tokenizer.json') });
after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('textStart: false keeps the first token\'s leading space; the default drops it', async () => {
  const model = await loadModel(dir);
  try {
    const session = model.createSession();
    let checked = 0;
    for (const text of ['def add(a, b):\n    return a +', 'const total =', 'x = compute(', 'for item in', 'let y =', 'if (ready)']) {
      const prompt = model.tokenize(text, { bos: true });
      await session.reuse(prompt);
      const start = await session.generate({ maxTokens: 6 });
      await session.reuse(prompt);
      const middle = await session.generate({ maxTokens: 6, textStart: false });
      assert.deepEqual(middle.tokens, start.tokens, 'the same tokens either way');
      // The reference: the generated tokens decoded after the prompt, minus the prompt.
      const mid = model.detokenize([...prompt, ...middle.tokens]).slice(model.detokenize(prompt).length);
      assert.equal(middle.text, mid);
      assert.equal(start.text, model.detokenize(start.tokens));
      if (middle.text !== start.text) {
        assert.equal(middle.text, ' ' + start.text);
        checked++;
      }
    }
    assert.ok(checked > 0, 'at least one prompt began its continuation with a spaced piece');
  } finally {
    model.dispose();
  }
});
