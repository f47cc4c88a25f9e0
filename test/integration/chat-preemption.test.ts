// A chat preempted by completions in the middle of a multi-byte character: what streams
// to the panel is never a broken character. The model is made for this: it writes "€"
// (three byte tokens, E2 82 AC) over and over, so preemptions land inside characters.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { LspClient } from '../helpers/lsp-client';
import { encodeSafetensors, hfConfig, SMALL, tensorShapes, type SafetensorsEntry, type TinyConfig } from '../helpers/tiny-model';
import { tokenizerPath } from '../helpers/tokenizers';

// Byte-fallback tokens of Mistral's v3 vocabulary: <0x00> is id 771.
const E2 = 771 + 0xe2;
const X82 = 771 + 0x82;
const AC = 771 + 0xac;

/**
 * Attention and feed-forward weights are zero, so the last token alone decides the next:
 * its embedding picks one lm_head row. Any token → E2 → 82 → AC (which embeds like any).
 */
function euroModel(c: TinyConfig): string {
  const tensors: Record<string, SafetensorsEntry> = {};
  for (const [name, shape] of Object.entries(tensorShapes(c))) {
    const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
    if (name.endsWith('norm.weight')) values.fill(1);
    if (name === 'model.embed_tokens.weight') {
      for (let t = 0; t < c.vocab; t++) values[t * c.dim + (t === E2 ? 1 : t === X82 ? 2 : 0)] = 1;
    }
    if (name === 'lm_head.weight') {
      values[E2 * c.dim + 0] = 10;
      values[X82 * c.dim + 1] = 10;
      values[AC * c.dim + 2] = 10;
    }
    tensors[name] = { dtype: 'F32', shape, data: Buffer.from(values.buffer) };
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tramontane-euro-'));
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(hfConfig(c)));
  fs.writeFileSync(path.join(dir, 'model.safetensors'), encodeSafetensors(tensors));
  fs.copyFileSync(tokenizerPath('v3', 'tokenizer.json'), path.join(dir, 'tokenizer.json'));
  return dir;
}

describe('a chat preempted mid-character', () => {
  const dir = euroModel({ ...SMALL, vocab: 32768, eos: 32767, window: null });
  let client: LspClient;
  before(async () => {
    client = await LspClient.start(['--model', dir], { maxTokens: 3 });
    await client.ready();
  });
  after(async () => {
    await client.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('every streamed delta is whole characters, and they add up to the answer', async () => {
    const uri = 'file:///work/prices.py';
    client.open(uri, 'price = ', 'python');
    const deltas: string[] = [];
    let answering = true;
    const answer = client.chat({ messages: [{ role: 'user', content: 'Prices?' }], maxTokens: 3000 }, (d) => deltas.push(d)).finally(() => (answering = false));
    // Keystrokes while the answer streams: each completion preempts the chat.
    let completions = 0;
    for (let i = 0; answering && i < 2000; i++) {
      client.insert(uri, { line: 0, character: 8 + i }, 'x');
      await client.complete(uri, { line: 0, character: 9 + i });
      completions++;
    }
    const result = await answer;
    assert.equal(result.text, '€'.repeat(1000));
    assert.ok(completions > 10, `${completions} completions ran while the chat streamed`);
    const broken = deltas.filter((d) => d.includes('\uFFFD'));
    assert.deepEqual(broken, [], `${broken.length} of ${deltas.length} deltas hold a broken character`);
    assert.equal(deltas.join(''), result.text);
  });
});
