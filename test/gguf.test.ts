// GGUF models through the binding and the command line: llama.cpp's own quantized files
// (test/fixtures/gguf) load from a file or a folder, match the expected logits, complete
// and tokenize; a vocabulary-only file tokenizes; a missing window can be supplied; and
// malformed files are one line of error, never a crash.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { loadModel } from '../server/engine/engine';
import { tramontane } from './helpers/cli';
import { ROOT } from './helpers/tokenizers';

const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'gguf');
const expected = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'tiny-llama-logits.json'), 'utf8')) as {
  tokens: number[];
  positions: number[];
  exact: Record<string, number[][]>;
};
// llama.cpp's own distance from the exact logits (max |d| / rms, fixtures README).
const BAND: Record<string, number> = {
  'tiny-llama-Q8_0.gguf': 6.8e-2,
  'tiny-llama-Q4_0.gguf': 7.4e-2,
  'tiny-llama-Q5_0.gguf': 8.2e-2,
  'tiny-llama-Q4_K_M.gguf': 9.9e-2,
  'tiny-llama-Q5_K_M.gguf': 1.0e-1,
  'tiny-llama-Q2_K.gguf': 1.13e-1,
  'tiny-llama-Q3_K_M.gguf': 1.17e-1,
};

const temp = fs.mkdtempSync(path.join(os.tmpdir(), 'tramontane-gguf-'));
after(() => fs.rmSync(temp, { recursive: true, force: true }));

function fixture(name: string): string {
  return path.join(FIXTURES, name);
}

/** max |ours − exact| / rms(exact) over the kept positions. */
function distance(rows: ArrayLike<number>[], exact: number[][]): number {
  let worst = 0;
  let square = 0;
  let count = 0;
  exact.forEach((row, k) => {
    const ours = rows[expected.positions[k]];
    row.forEach((v, i) => {
      worst = Math.max(worst, Math.abs(ours[i] - v));
      square += v * v;
      count += 1;
    });
  });
  return worst / Math.sqrt(square / count);
}

// A minimal GGUF writer for a vocabulary-only file: metadata, no tensors.
function ggufVocabulary(pieces: string[], types: number[]): Buffer {
  const parts: Buffer[] = [];
  const u32 = (v: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); parts.push(b); };
  const u64 = (v: number) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); parts.push(b); };
  const str = (s: string) => { const b = Buffer.from(s, 'utf8'); u64(b.length); parts.push(b); };
  parts.push(Buffer.from('GGUF'));
  u32(3);
  u64(0); // tensors
  u64(4); // key/value pairs
  str('general.architecture'); u32(8); str('llama');
  str('tokenizer.ggml.model'); u32(8); str('llama');
  str('tokenizer.ggml.tokens'); u32(9); u32(8); u64(pieces.length); pieces.forEach(str);
  str('tokenizer.ggml.token_type'); u32(9); u32(5); u64(types.length); types.forEach((t) => { const b = Buffer.alloc(4); b.writeInt32LE(t); parts.push(b); });
  return Buffer.concat(parts);
}

describe('GGUF files from llama.cpp', () => {
  test('every fixture loads through the binding and stays within llama.cpp\'s band', async () => {
    for (const [file, exact] of Object.entries(expected.exact)) {
      const model = await loadModel(fixture(file), { backend: 'cpu', threads: 2 });
      try {
        assert.equal(model.backend, 'cpu');
        assert.equal(model.config.vocabSize, 512);
        assert.equal(model.config.layers, 2);
        assert.equal(model.config.ropeLayout, 'interleaved');
        assert.equal(model.config.slidingWindow, 0);
        assert.equal(model.config.windowMissing, false);
        const session = model.createSession();
        const logits = (await session.feed(expected.tokens, { logits: true }))!;
        const rows = expected.tokens.map((_, t) => logits.subarray(t * 512, (t + 1) * 512));
        const d = distance(rows, exact);
        assert.ok(d <= BAND[file], `${file}: ${d}`);
      } finally {
        model.dispose();
      }
    }
  });

  test('the reference kernels match the exact dequantization within 1e-3 (logits command)', () => {
    const file = 'tiny-llama-Q4_K_M.gguf';
    const result = spawnLogits(fixture(file), { TRAMONTANE_QUANT_KERNEL: 'reference' });
    expected.exact[file].forEach((row, k) => {
      const ours = result[expected.positions[k]];
      row.forEach((v, i) => assert.ok(Math.abs(ours[i] - v) <= 1e-3, `position ${expected.positions[k]}, logit ${i}`));
    });
  });

  test('a folder holding one .gguf loads it; tokenize and complete run on it', () => {
    const dir = path.join(temp, 'q5');
    fs.mkdirSync(dir);
    fs.copyFileSync(fixture('tiny-llama-Q5_K_M.gguf'), path.join(dir, 'model.gguf'));
    const ids = tramontane(['tokenize', '--model', dir, '--bos', 'the def return']);
    assert.equal(ids.status, 0, ids.stderr);
    const parsed = JSON.parse(ids.stdout) as number[];
    assert.equal(parsed[0], 1);
    assert.ok(parsed.length >= 4 && parsed.every((id) => id >= 0 && id < 512));
    const complete = tramontane(['complete', '--model', dir, '--backend', 'cpu', '--max-tokens', '6', 'def']);
    assert.equal(complete.status, 0, complete.stderr);
    fs.copyFileSync(fixture('tiny-llama-Q4_0.gguf'), path.join(dir, 'other.gguf'));
    const two = tramontane(['tokenize', '--model', dir, 'x']);
    assert.equal(two.status, 1);
    assert.match(two.stderr, /several GGUF files/);
  });

  test('--sliding-window supplies a window the file lacks', async () => {
    const plain = spawnLogits(fixture('tiny-llama-Q8_0.gguf'));
    const windowed = spawnLogits(fixture('tiny-llama-Q8_0.gguf'), {}, ['--sliding-window', '8']);
    assert.deepEqual(windowed.slice(0, 8), plain.slice(0, 8)); // within the window: no change
    assert.notDeepEqual(windowed[20], plain[20]);
    const model = await loadModel(fixture('tiny-llama-Q8_0.gguf'), { backend: 'cpu', slidingWindow: 8 });
    assert.equal(model.config.slidingWindow, 8);
    model.dispose();
  });
});

describe('vocabulary-only GGUF', () => {
  const pieces = ['<unk>', '<s>', '</s>', ...Array.from({ length: 256 }, (_, i) => `<0x${i.toString(16).toUpperCase().padStart(2, '0')}>`), '▁', 'h', 'e', 'l', 'o', 'he', 'll', '▁he', '▁hell', '▁hello'];
  const types = pieces.map((p, i) => (i === 0 ? 2 : i < 3 ? 3 : p.startsWith('<0x') ? 6 : 1));
  const file = path.join(temp, 'vocab.gguf');
  fs.writeFileSync(file, ggufVocabulary(pieces, types));

  test('tokenizes with the tokenize command', () => {
    const result = tramontane(['tokenize', '--model', file, 'hello']);
    assert.equal(result.status, 0, result.stderr);
    // No scores: every merge ties and SentencePiece takes the leftmost pair; bytes
    // fall back for what no piece covers.
    const ids = JSON.parse(result.stdout) as number[];
    assert.equal(ids.map((id) => pieces[id]).join(''), '▁hello');
  });

  test('refuses to run', async () => {
    const model = await loadModel(file, { backend: 'cpu' });
    assert.throws(() => model.createSession(), /only a vocabulary/);
    model.dispose();
  });
});

describe('malformed GGUF files give one line', () => {
  const good = fs.readFileSync(fixture('tiny-llama-Q4_0.gguf'));
  const cases: [string, (b: Buffer) => Buffer, RegExp][] = [
    ['a truncated file', (b) => b.subarray(0, b.length - 1000), /past the end of the file/],
    ['a cut header', (b) => b.subarray(0, 3000), /truncated/],
    ['a wrong magic', (b) => Buffer.concat([Buffer.from('GGUG'), b.subarray(4)]), /not a GGUF file/],
    ['version 1', (b) => { const c = Buffer.from(b); c.writeUInt32LE(1, 4); return c; }, /version 1 is not supported/],
    ['a huge tensor count', (b) => { const c = Buffer.from(b); c.writeBigUInt64LE(1n << 60n, 8); return c; }, /tensor_count/],
    ['tokens of the wrong element type', (b) => {
      const c = Buffer.from(b);
      const at = c.indexOf('tokenizer.ggml.scores') + 'tokenizer.ggml.scores'.length + 4;
      c.writeUInt32LE(5, at); // float32 → int32: same size, so parsing goes on
      return c;
    }, /tokenizer\.ggml\.scores: expected an array of float32, found an array of int32/],
    ['an unknown tensor type', (b) => {
      const c = Buffer.from(b);
      const at = c.indexOf('blk.0.attn_q.weight') + 'blk.0.attn_q.weight'.length + 4 + 16;
      c.writeUInt32LE(77, at);
      return c;
    }, /tensor blk\.0\.attn_q\.weight: unknown tensor type id 77/],
  ];
  for (const [name, make, message] of cases) {
    test(name, async () => {
      const file = path.join(temp, `${name.replace(/\W+/g, '-')}.gguf`);
      fs.writeFileSync(file, make(good));
      await assert.rejects(loadModel(file, { backend: 'cpu' }), (error: Error) => {
        assert.match(error.message, message);
        assert.ok(!error.message.includes('\n'), error.message);
        return true;
      });
      const cli = tramontane(['tokenize', '--model', file, 'x']);
      assert.equal(cli.status, 1);
      assert.match(cli.stderr, message);
    });
  }
});

function spawnLogits(file: string, env: Record<string, string> = {}, extra: string[] = []): number[][] {
  const result = spawnSync(
    process.execPath,
    [path.join(ROOT, 'bin', 'tramontane.js'), 'logits', '--model', file, '--backend', 'cpu', '--tokens', expected.tokens.join(','), ...extra],
    { encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 64 << 20 },
  );
  assert.equal(result.status, 0, result.stderr);
  return (JSON.parse(result.stdout) as { logits: number[][] }).logits;
}
