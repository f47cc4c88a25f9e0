// The Node binding against the real engine on small models written to disk.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CancelledError, loadModel, type Model } from '../server/engine/engine';
import { SMALL, writeTinyModel, type TinyConfig } from './helpers/tiny-model';
import { tokenizerPath } from './helpers/tokenizers';

const dirs: string[] = [];
function tinyModel(c: TinyConfig = SMALL, seed = 1, tokenizerFrom?: string): string {
  const dir = writeTinyModel(c, seed, { tokenizerFrom });
  dirs.push(dir);
  return dir;
}
after(() => dirs.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })));

describe('loading', () => {
  test('reports progress and the config', async () => {
    const fractions: number[] = [];
    const model = await loadModel(tinyModel(), { onProgress: (f) => fractions.push(f) });
    assert.equal(model.config.vocabSize, SMALL.vocab);
    assert.equal(model.config.kvHeads, 2);
    assert.equal(model.config.slidingWindow, 16);
    assert.equal(model.backend, 'cpu');
    assert.ok(fractions.length > 0, 'progress was reported');
    assert.equal(fractions.at(-1), 1);
    model.dispose();
    model.dispose(); // idempotent
  });

  test('a missing directory is a clear error', async () => {
    await assert.rejects(loadModel('/nonexistent/model'), /not found|does not exist|no such/i);
  });

  test('auto falls back to the CPU where the build has no CUDA or there is no GPU', async () => {
    const model = await loadModel(tinyModel(), { backend: 'auto' });
    assert.equal(model.backend, 'cpu');
    model.dispose();
  });

  test('the default backend is auto: the CPU here', async () => {
    const model = await loadModel(tinyModel(), {});
    assert.equal(model.backend, 'cpu');
    model.dispose();
  });

  test('an unknown backend is a clear error listing the choices', async () => {
    await assert.rejects(loadModel(tinyModel(), { backend: 'tpu' as 'auto' }), /expected auto, cpu or cuda/);
  });

  test('asking for CUDA without it is a clear error', async () => {
    await assert.rejects(loadModel(tinyModel(), { backend: 'cuda' }), /cuda/i);
  });
});

describe('sessions', () => {
  let model: Model;
  before(async () => {
    model = await loadModel(tinyModel());
  });
  after(() => model.dispose());

  test('feed returns one logits row per token, the last equal to lastLogits()', async () => {
    const session = model.createSession();
    const tokens = [1, 5, 9, 200, 17];
    const logits = (await session.feed(tokens, { logits: true }))!;
    assert.equal(logits.length, tokens.length * SMALL.vocab);
    assert.deepEqual(session.lastLogits(), logits.subarray(4 * SMALL.vocab));
    assert.deepEqual(session.tokens, tokens);
    session.dispose();
  });

  test('reuse computes only the new tokens', async () => {
    const session = model.createSession();
    const prompt = Array.from({ length: 40 }, (_, i) => (i * 7 + 3) % SMALL.vocab);
    assert.deepEqual(await session.reuse(prompt), { reused: 0, computed: 40 });
    assert.deepEqual(await session.reuse([...prompt, 11]), { reused: 40, computed: 1 });
    const edited = [...prompt.slice(0, 30), 12, 13];
    assert.deepEqual(await session.reuse(edited), { reused: 30, computed: 2 });
    session.dispose();
  });

  test('out-of-range token ids are rejected before any work', async () => {
    const session = model.createSession();
    await assert.rejects(session.feed([1, SMALL.vocab]), /not an id/);
    await assert.rejects(session.feed([1, -1]), /not an id/);
    assert.deepEqual(session.tokens, []);
    session.dispose();
  });

  test('calls on one session run in order', async () => {
    const session = model.createSession();
    const a = session.feed([1, 2, 3]);
    const b = session.feed([4, 5]);
    const c = session.rollback(2);
    await Promise.all([a, b, c]);
    assert.deepEqual(session.tokens, [1, 2]);
    session.dispose();
  });

  test('generate is deterministic for a seed and streams what it returns', async () => {
    const run = async () => {
      const session = model.createSession();
      await session.feed([1, 10, 20, 30]);
      const pieces: string[] = [];
      const result = await session.generate({ maxTokens: 12, temperature: 0.8, topK: 40, seed: 7 }, { onText: (p) => pieces.push(p) });
      session.dispose();
      return { result, pieces };
    };
    const first = await run();
    const second = await run();
    assert.deepEqual(first.result.tokens, second.result.tokens);
    assert.ok(first.result.tokens.length > 0);
  });

  test('dispose is idempotent and later calls fail clearly', async () => {
    const session = model.createSession();
    session.dispose();
    session.dispose();
    await assert.rejects(session.feed([1]), /disposed/);
  });
});

describe('streaming text and cancellation', () => {
  let model: Model;
  before(async () => {
    // EOS set to an id the model never emits here, so generation runs until stopped.
    const c = { ...SMALL, vocab: 32768, eos: 32767 };
    model = await loadModel(tinyModel(c, 3, tokenizerPath('v3', 'tokenizer.json')));
  });
  after(() => model.dispose());

  // Generates until the third text piece reaches JS, then aborts.
  async function abortAfterThreePieces(session: ReturnType<Model['createSession']>) {
    await session.feed(model.tokenize('def main():', { bos: true }));
    const abort = new AbortController();
    let pieces = 0;
    const result = await session.generate(
      { maxTokens: 5000 },
      {
        signal: abort.signal,
        onText: () => {
          if (++pieces === 3) abort.abort();
        },
      },
    );
    session.dispose();
    return result;
  }

  // The engine stops within one step of the cancel flag (exactly: the engine tests
  // cancel from the listener, tests/engine.cpp). Here pieces reach JS some time after
  // the engine produces them, a few or a few dozen on a loaded machine (21 seen in
  // CI), so the bound is the one JS can hold: the abort lands long before the 5000.
  test('an AbortSignal stops generation', async () => {
    const result = await abortAfterThreePieces(model.createSession({ maxDraft: 0 }));
    assert.equal(result.finish, 'cancelled');
    assert.ok(result.tokens.length < 100, `stopped after ${result.tokens.length} tokens`);
  });

  test('with drafting, an AbortSignal stops generation', async () => {
    // A step verifies up to 8 drafted tokens, so it may bring 9 tokens at once.
    const result = await abortAfterThreePieces(model.createSession());
    assert.equal(result.finish, 'cancelled');
    assert.ok(result.steps < 100, `stopped after ${result.steps} steps (${result.tokens.length} tokens)`);
    assert.ok(result.tokens.length <= 9 * result.steps, 'no more than 9 tokens per step');
  });

  test('a signal aborted before the call rejects without running', async () => {
    const session = model.createSession();
    await session.feed([1, 2]);
    const abort = new AbortController();
    abort.abort();
    await assert.rejects(session.generate({ maxTokens: 5 }, { signal: abort.signal }), CancelledError);
    session.dispose();
  });

  test('stream() yields the same text generate() returns', async () => {
    const session = model.createSession();
    await session.feed(model.tokenize('function add(a, b) {', { bos: true }));
    const stream = session.stream({ maxTokens: 16 });
    let text = '';
    let next = await stream.next();
    while (!next.done) {
      text += next.value;
      next = await stream.next();
    }
    assert.equal(text, next.value.text);
    assert.equal(next.value.tokens.length, 16);
    session.dispose();
  });

  test('disposing during generation cancels it', async () => {
    const session = model.createSession();
    await session.feed([1, 2, 3]);
    const pending = session.generate({ maxTokens: 5000 });
    setTimeout(() => session.dispose(), 20);
    const result = await pending;
    assert.equal(result.finish, 'cancelled');
  });

  test('tokenize and detokenize round-trip', () => {
    const text = 'const x = "héllo";\n\tif (x) { return 1; }';
    assert.equal(model.detokenize(model.tokenize(text)), text);
    assert.equal(model.tokenId('[SUFFIX]') !== undefined, true);
  });
});

describe('the event loop stays free', () => {
  test('timers keep firing during a long prefill', async () => {
    const c: TinyConfig = { vocab: 512, dim: 256, layers: 4, heads: 8, kvHeads: 2, headDim: 32, hidden: 768, window: 512 };
    const model = await loadModel(tinyModel(c, 5), { threads: 1 });
    const session = model.createSession({ chunk: 64 });
    const prompt = Array.from({ length: 1500 }, (_, i) => (i * 31 + 7) % c.vocab);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const started = Date.now();
    await session.feed(prompt);
    const elapsed = Date.now() - started;
    clearInterval(timer);
    model.dispose();
    assert.ok(elapsed > 100, `prefill took ${elapsed} ms: too short to prove anything`);
    // A blocked loop would fire the timer at most once after the feed settles.
    assert.ok(ticks >= elapsed / 5 / 4, `${ticks} ticks in ${elapsed} ms`);
  });
});

describe('cancelling a prefill', () => {
  test('stops between chunks, rejects with CancelledError and keeps the finished chunks', async () => {
    const c: TinyConfig = { vocab: 512, dim: 256, layers: 4, heads: 8, kvHeads: 2, headDim: 32, hidden: 768, window: 512 };
    const model = await loadModel(tinyModel(c, 6), { threads: 1 });
    const session = model.createSession({ chunk: 32 });
    const prompt = Array.from({ length: 1500 }, (_, i) => (i * 17 + 5) % c.vocab);
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 30);
    await assert.rejects(session.feed(prompt, { signal: abort.signal }), CancelledError);
    const kept = session.tokens.length;
    assert.ok(kept >= 32 && kept < prompt.length, `kept ${kept} tokens`);
    assert.equal(kept % 32, 0, 'whole chunks only');
    assert.deepEqual(session.tokens, prompt.slice(0, kept));
    // The session is still usable: reuse picks up where the prefill stopped.
    assert.deepEqual(await session.reuse(prompt.slice(0, kept + 3)), { reused: kept, computed: 3 });
    model.dispose();
  });
});

describe('bad input through the binding', () => {
  function corrupt(mutate: (dir: string) => void): string {
    const dir = tinyModel();
    mutate(dir);
    return dir;
  }
  const weights = (dir: string) => path.join(dir, 'model.safetensors');
  function header(dir: string): { json: Record<string, any>; data: Buffer } {
    const buf = fs.readFileSync(weights(dir));
    const length = Number(buf.readBigUInt64LE(0));
    return { json: JSON.parse(buf.subarray(8, 8 + length).toString()), data: buf.subarray(8 + length) };
  }
  function rewrite(dir: string, json: Record<string, any>, data: Buffer): void {
    const text = Buffer.from(JSON.stringify(json));
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(BigInt(text.length));
    fs.writeFileSync(weights(dir), Buffer.concat([length, text, data]));
  }

  const cases: [string, (dir: string) => void, RegExp][] = [
    ['a truncated file', (d) => fs.truncateSync(weights(d), fs.statSync(weights(d)).size - 100), /model\.safetensors/],
    ['a file shorter than its length prefix', (d) => fs.writeFileSync(weights(d), Buffer.from([1, 2, 3])), /model\.safetensors/],
    [
      'a header claiming a huge length',
      (d) => {
        const buf = fs.readFileSync(weights(d));
        buf.writeBigUInt64LE(1n << 60n, 0);
        fs.writeFileSync(weights(d), buf);
      },
      /header/i,
    ],
    [
      'out-of-range offsets',
      (d) => {
        const { json, data } = header(d);
        json['model.norm.weight'].data_offsets = [data.length - 4, data.length + 1000];
        rewrite(d, json, data);
      },
      /model\.norm\.weight/,
    ],
    [
      'a missing tensor',
      (d) => {
        const { json, data } = header(d);
        delete json['model.layers.1.mlp.up_proj.weight'];
        rewrite(d, json, data);
      },
      /model\.layers\.1\.mlp\.up_proj\.weight/,
    ],
    [
      'a wrong shape',
      (d) => {
        const { json, data } = header(d);
        json['model.layers.0.self_attn.k_proj.weight'].shape = [64, 32];
        rewrite(d, json, data);
      },
      /model\.layers\.0\.self_attn\.k_proj\.weight.*shape/,
    ],
    [
      'an unknown dtype',
      (d) => {
        const { json, data } = header(d);
        json['model.norm.weight'].dtype = 'F8_E4M3';
        rewrite(d, json, data);
      },
      /F8_E4M3/,
    ],
    ['a corrupt config', (d) => fs.writeFileSync(path.join(d, 'config.json'), '{"hidden_size": 64,'), /config\.json/],
    ['no weights at all', (d) => fs.rmSync(weights(d)), /safetensors/],
    ['a corrupt tokenizer.json', (d) => fs.writeFileSync(path.join(d, 'tokenizer.json'), '{"model": {"type": "BPE", "vocab": [}'), /tokenizer\.json/],
    ['a corrupt tokenizer.model', (d) => fs.writeFileSync(path.join(d, 'tokenizer.model'), Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x7f, 1, 2])), /tokenizer\.model/],
  ];

  for (const [name, mutate, message] of cases) {
    test(`${name} is one clear error`, async () => {
      const error = await loadModel(corrupt(mutate)).then(
        () => assert.fail('loaded a broken model'),
        (e: Error) => e,
      );
      assert.match(error.message, message);
      assert.ok(!error.message.includes('\n'), `one line: ${error.message}`);
    });
  }
});
