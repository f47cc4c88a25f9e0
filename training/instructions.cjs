// Instruction pairs mined from the corpus itself, for the default model's "explain" and
// "write" abilities. No other model is involved: the answers are the projects' own
// docstrings (Python) and doc comments (JSDoc/TSDoc) and their own functions.
//
//   explain: the function with its docstring or doc comment removed -> that text
//   write:   the doc text -> the whole function, in a fenced code block
//
// The questions are the ones the Tramontane server sends (server/prompt/chat.ts: Explain
// Selection, and chat with code attached), so training matches what the model sees.
// prepare.cjs calls minePairs() on every selected file and chatIds() to tokenize.
'use strict';

const MAX_FUNCTION_LINES = 60;
const MAX_FUNCTION_CHARS = 2400;
const MAX_ANSWER_CHARS = 600;
const MIN_DOC_CHARS = 16;

// The Explain Selection question (server/prompt/chat.ts explainQuestion()) and the code
// block that follows a question (fencedCode()): `name, lines a–b:` then a fenced block.
const EXPLAIN = (language) => `Explain what this ${language} code does, briefly: its purpose, how it works, and anything surprising.`;
const CHAT_EXPLAIN = ['What does this function do?', 'Explain this code.', 'What is this for?', 'Describe what this code does.'];
const WRITE = [
  (language, name, doc) => `Write a ${language} function \`${name}\`: ${doc}`,
  (language, name, doc) => `Write a ${language} function named ${name} that does the following.\n\n${doc}`,
  (language, name, doc) => `Implement \`${name}\` in ${language}. ${doc}`,
];

function codeBlock(file, first, last, language, code) {
  const name = file.replace(/^.*\//, '');
  return `${name}, lines ${first + 1}\u2013${last + 1}:\n\`\`\`${language}\n${code.replace(/\n$/, '')}\n\`\`\``;
}

/** Removes common indentation (Python's inspect.cleandoc, minus its first-line rule). */
function dedent(lines) {
  const ind = Math.min(...lines.filter((l) => l.trim()).map((l) => l.length - l.trimStart().length));
  return lines.map((l) => l.slice(Number.isFinite(ind) ? ind : 0));
}

/** The doc text as an answer: whole paragraphs up to MAX_ANSWER_CHARS (at least the first). */
function answerText(text) {
  const prose = text.replace(/```[\s\S]*?```/g, '');
  const paragraphs = prose.split(/\n\s*\n/).map((p) => p.trim()).filter((p) => p && !p.startsWith('>>>'));
  let out = '';
  for (const p of paragraphs) {
    if (out && out.length + p.length + 2 > MAX_ANSWER_CHARS) break;
    out = out ? `${out}\n\n${p}` : p;
  }
  if (out.length > MAX_ANSWER_CHARS * 1.5) return null;
  return out;
}

function usableDoc(text) {
  if (!text || text.length < MIN_DOC_CHARS) return false;
  if (!/[a-zA-Z]{3,}.*\s.*[a-zA-Z]{3,}/.test(text)) return false; // at least two words
  if (/^(todo|fixme|xxx|deprecated|internal|private|copyright|license|@)/i.test(text)) return false;
  return true;
}

// ------------------------------------------------------------------------------ Python
const PY_DEF = /^(\s*)(?:async\s+)?def\s+([A-Za-z_]\w*)\s*\(/;

function pyFunctions(text) {
  const lines = text.split('\n');
  const out = [];
  for (let i = 0; i < lines.length; i++) {
    const m = lines[i].match(PY_DEF);
    if (!m) continue;
    const indent = m[1].length;
    // The signature ends at the first line, after balanced brackets, that ends in ':'.
    let depth = 0, end = -1;
    for (let j = i; j < Math.min(lines.length, i + 20) && end < 0; j++) {
      const code = lines[j].replace(/#.*$/, '');
      for (const ch of code) { if ('([{'.includes(ch)) depth++; else if (')]}'.includes(ch)) depth--; }
      if (depth <= 0 && /:\s*$/.test(code)) end = j;
    }
    if (end < 0) continue;
    let first = i;
    while (first > 0 && /^\s*@/.test(lines[first - 1]) && lines[first - 1].length - lines[first - 1].trimStart().length === indent) first--;
    // The body: every following line that is blank or indented deeper than the def.
    let last = end;
    for (let j = end + 1; j < lines.length; j++) {
      const l = lines[j];
      if (!l.trim()) continue;
      if (l.length - l.trimStart().length <= indent) break;
      last = j;
    }
    if (last === end) continue; // a one-line def
    // The docstring: the body's first statement, a string literal.
    let d = end + 1;
    while (d <= last && !lines[d].trim()) d++;
    const dm = lines[d].trim().match(/^[rRuU]?("""|''')/);
    if (!dm) continue;
    const q = dm[1];
    const startCol = lines[d].indexOf(q) + q.length;
    let dEnd = -1, body = '';
    for (let j = d; j <= last; j++) {
      const from = j === d ? startCol : 0;
      const k = lines[j].indexOf(q, from);
      if (k >= 0) { body += (j === d ? '' : '\n') + lines[j].slice(from, k); dEnd = j; if (lines[j].slice(k + 3).trim()) dEnd = -2; break; }
      body += (j === d ? '' : '\n') + lines[j].slice(from);
    }
    if (dEnd < 0) continue;
    const docLines = body.split('\n');
    const doc = [docLines[0].trim(), ...dedent(docLines.slice(1))].join('\n').trim();
    out.push({ name: m[2], first, last, docFirst: d, docLast: dEnd, doc, lines });
  }
  return out;
}

function pyPairs(text) {
  const pairs = [];
  for (const f of pyFunctions(text)) {
    if (f.last - f.first + 1 > MAX_FUNCTION_LINES) continue;
    const whole = dedent(f.lines.slice(f.first, f.last + 1));
    const base = f.lines[f.first].length - f.lines[f.first].trimStart().length;
    const without = dedent([...f.lines.slice(f.first, f.docFirst), ...f.lines.slice(f.docLast + 1, f.last + 1)]);
    const rest = without.slice(f.docFirst - f.first).filter((l) => l.trim());
    if (!rest.length || rest.every((l) => /^\s*(pass|\.\.\.|raise NotImplementedError.*)$/.test(l))) continue;
    pairs.push({ name: f.name, first: f.first, last: f.last, doc: f.doc, code: without.join('\n'), whole: whole.join('\n'), base });
  }
  return pairs;
}

// ------------------------------------------------------------------ JavaScript / TypeScript
// A doc comment /** ... */ directly above a function declaration, a method or a function
// assigned to a name; the body is found by matching braces outside strings and comments.
const JS_HEAD = [
  /^\s*(?:export\s+)?(?:default\s+)?(?:async\s+)?function\s*\*?\s*([A-Za-z_$][\w$]*)\s*[<(]/,
  /^\s*(?:export\s+)?(?:const|let|var)\s+([A-Za-z_$][\w$]*)\s*(?::[^=]+)?=\s*(?:async\s+)?(?:function\b|\([^)]*\)\s*(?::[^=]+)?=>|[A-Za-z_$][\w$]*\s*=>)/,
  /^\s*(?:(?:public|private|protected|static|async|override|readonly)\s+)*([A-Za-z_$][\w$]*)\s*(?:<[^>]*>)?\s*\([^;]*$/,
  /^\s*([A-Za-z_$][\w$.]*)\s*[:=]\s*(?:async\s+)?function\b/,
];
const NOT_A_NAME = new Set(['if', 'for', 'while', 'switch', 'catch', 'return', 'function', 'constructor', 'super', 'with']);

/** Index just past the brace that closes the one at `open`, or -1. */
function matchBrace(text, open) {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    const c = text[i];
    if (c === '/' && text[i + 1] === '/') { i = text.indexOf('\n', i); if (i < 0) return -1; continue; }
    if (c === '/' && text[i + 1] === '*') { i = text.indexOf('*/', i + 2); if (i < 0) return -1; i++; continue; }
    if (c === '"' || c === "'" || c === '`') {
      for (i++; i < text.length && text[i] !== c; i++) { if (text[i] === '\\') i++; else if (c !== '`' && text[i] === '\n') return -1; }
      continue;
    }
    if (c === '{') depth++;
    else if (c === '}') { depth--; if (depth === 0) return i + 1; }
  }
  return -1;
}

function jsDocText(comment) {
  const lines = comment.replace(/^\/\*\*/, '').replace(/\*\/$/, '').split('\n').map((l) => l.replace(/^\s*\*? ?/, ''));
  const desc = [];
  for (const l of lines) { if (/^\s*@/.test(l)) break; desc.push(l); }
  return desc.join('\n').replace(/\{@link\s+([^}|\s]+)[^}]*\}/g, '`$1`').trim();
}

function jsPairs(text) {
  const pairs = [];
  const lineStart = [0];
  for (let i = 0; i < text.length; i++) if (text[i] === '\n') lineStart.push(i + 1);
  const lineOf = (pos) => { let lo = 0, hi = lineStart.length - 1; while (lo < hi) { const mid = (lo + hi + 1) >> 1; if (lineStart[mid] <= pos) lo = mid; else hi = mid - 1; } return lo; };
  const lines = text.split('\n');
  const re = /\/\*\*(?!\*)[\s\S]*?\*\//g;
  let m;
  while ((m = re.exec(text))) {
    const cEnd = m.index + m[0].length;
    const after = text.slice(cEnd).match(/^[ \t]*\n/);
    if (!after) continue;
    const headLine = lineOf(cEnd) + 1;
    if (headLine >= lines.length) continue;
    const head = lines[headLine];
    const hm = JS_HEAD.map((r) => head.match(r)).find(Boolean);
    if (!hm || NOT_A_NAME.has(hm[1])) continue;
    // The body's opening brace: the first '{' after the head, within a few lines, before any ';'.
    const from = lineStart[headLine];
    let open = -1;
    for (let i = from; i < Math.min(text.length, from + 600); i++) {
      if (text[i] === ';' && open < 0) break;
      if (text[i] === '{') { open = i; break; }
    }
    if (open < 0) continue;
    const close = matchBrace(text, open);
    if (close < 0) continue;
    const last = lineOf(close - 1);
    if (last - headLine + 1 > MAX_FUNCTION_LINES || last === headLine) continue;
    const commentFirst = lineOf(m.index);
    if (lines[commentFirst].slice(0, m.index - lineStart[commentFirst]).trim()) continue; // code before the comment
    const doc = jsDocText(m[0]);
    const trailing = lines[last].slice(close - lineStart[last]);
    const tail = /^[;,)]*\s*$/.test(trailing) ? lines[last] : lines[last].slice(0, close - lineStart[last]);
    const code = dedent([...lines.slice(headLine, last), tail]);
    const whole = dedent([...lines.slice(commentFirst, last), tail]);
    pairs.push({ name: hm[1].replace(/^.*\./, ''), first: headLine, last, doc, code: code.join('\n'), whole: whole.join('\n') });
  }
  return pairs;
}

// ------------------------------------------------------------------------------ pairs
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

/**
 * Instruction pairs of one file: [{kind: 'explain'|'write', name, user, assistant,
 * reference}], `reference` being the doc text the explain answer is measured against.
 * serverQuestionOnly: every explain question is the server's Explain Selection one.
 */
function minePairs(text, lang, file, seed, serverQuestionOnly = false) {
  const found = lang === 'python' ? pyPairs(text) : jsPairs(text);
  const rnd = mulberry32(seed ^ 0x9e3779b9);
  const out = [];
  const seen = new Set();
  for (const f of found) {
    if (f.code.length > MAX_FUNCTION_CHARS || !usableDoc(f.doc) || seen.has(f.name)) continue;
    seen.add(f.name);
    const answer = answerText(f.doc);
    if (!answer || !usableDoc(answer)) continue;
    const block = codeBlock(file, f.first, f.last, lang, f.code);
    const explainQ = serverQuestionOnly || rnd() < 0.75 ? EXPLAIN(lang) : CHAT_EXPLAIN[Math.floor(rnd() * CHAT_EXPLAIN.length)];
    out.push({ kind: 'explain', name: f.name, user: `${explainQ}\n\n${block}`, assistant: answer, reference: answer });
    const firstParagraph = answer.split(/\n\s*\n/)[0];
    const writeQ = WRITE[Math.floor(rnd() * WRITE.length)](lang, f.name, firstParagraph);
    out.push({ kind: 'write', name: f.name, user: writeQ, assistant: `\`\`\`${lang}\n${f.whole}\n\`\`\``, reference: f.whole });
  }
  return out;
}

/**
 * One exchange as the server's mistral-v3 chat template encodes it (server/prompt/chat.ts):
 * [BOS] [INST] encode(user) [/INST] encode(assistant without trailing spaces) [EOS].
 * `enc` is SentencePiece encoding with the dummy prefix (prepare.cjs passes its line-wise
 * encoding, which equals it). Returns {prompt, answer} ids.
 */
function chatIds(enc, pair, ids) {
  const prompt = [ids.bos, ids.inst, ...enc(pair.user), ids.instEnd];
  const answer = [...enc(pair.assistant.replace(/ +$/, '')), ids.eos];
  return { prompt, answer };
}

module.exports = { minePairs, chatIds, EXPLAIN };
