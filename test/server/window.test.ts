// Window placement and hysteresis, and the prompt builder on a real document.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { PromptBuilder, type WindowMemo } from '../../server/prompt/builder';
import { budgetCaps } from '../../server/prompt/budget';
import { extraContext } from '../../server/prompt/extra';
import { resolveTemplate } from '../../server/prompt/templates';
import { placePrefixStart, placeSuffixEnd } from '../../server/prompt/window';
import { charTokenizer, referenceTokenizer } from '../helpers/prompt-tokenizer';

// 100 lines of 10 tokens each: measure(start) = tokens from line `start` to the cursor line.
const lineTokens = 10;
const measureFrom = (cursorLine: number) => (start: number) => (cursorLine - start + 1) * lineTokens;

describe('prefix window placement', () => {
  test('the whole prefix is used while it fits', () => {
    assert.equal(placePrefixStart(undefined, 20, 400, measureFrom(20)).start, 0);
    assert.deepEqual(placePrefixStart(0, 21, 400, measureFrom(21)), { start: 0, moved: false });
  });

  test('a new window fills (1 - step) of the budget, starting at a line boundary', () => {
    const { start } = placePrefixStart(undefined, 80, 400, measureFrom(80));
    assert.equal(measureFrom(80)(start), 300); // 75% of 400: 30 lines
    assert.ok(measureFrom(80)(start - 1) > 300);
  });

  test('typing keeps the start until the budget is spent, then jumps by many lines', () => {
    let start: number | undefined;
    const starts: number[] = [];
    for (let cursor = 0; cursor < 100; cursor++) {
      const placement = placePrefixStart(start, cursor, 400, measureFrom(cursor));
      start = placement.start;
      starts.push(start);
    }
    const moves = starts.filter((s, i) => i > 0 && s !== starts[i - 1]);
    // 100 lines of typing with room for 40 lines: a handful of jumps, never a drift.
    assert.ok(moves.length >= 4 && moves.length <= 8, `moved ${moves.length} times`);
    for (let i = 1; i < starts.length; i++) {
      if (starts[i] !== starts[i - 1]) assert.ok(starts[i] - starts[i - 1] >= 10, 'each jump moves at least a quarter of the window');
    }
  });

  test('hysteresis: a cursor moving up inside the window keeps the start; far above it, the window moves', () => {
    const kept = placePrefixStart(50, 75, 400, measureFrom(75));
    assert.deepEqual(kept, { start: 50, moved: false });
    // Only 6 lines left above the cursor: under the low-water mark, so placed anew.
    const small = placePrefixStart(50, 55, 400, measureFrom(55));
    assert.equal(small.moved, true);
    assert.ok(small.start < 50);
    const above = placePrefixStart(50, 20, 400, measureFrom(20));
    assert.equal(above.moved, true);
    assert.equal(above.start, 0);
  });

  test('the suffix window is the longest run of whole lines within its budget', () => {
    const measure = (end: number) => (end - 10 + 1) * lineTokens;
    assert.equal(placeSuffixEnd(10, 99, 55, measure), 14);
    assert.equal(placeSuffixEnd(10, 12, 1000, measure), 12);
  });
});

describe('budget and extra context', () => {
  test('shares of the total; no suffix budget for prefix-only templates', () => {
    assert.deepEqual(budgetCaps({ total: 1000, suffixShare: 0.2, extraShare: 0.1 }, true), { prefix: 700, suffix: 200, extra: 100 });
    assert.deepEqual(budgetCaps({ total: 1000, suffixShare: 0.2, extraShare: 0.1 }, false), { prefix: 900, suffix: 0, extra: 100 });
  });

  test('extra context: most recent nearest the cursor (last), around the focus line, within budget, headed by the path', () => {
    const lines = Array.from({ length: 50 }, (_, i) => `line ${i}`);
    const text = extraContext(
      [
        { uri: 'file:///work/src/recent.ts', languageId: 'typescript', text: lines.join('\n'), focusLine: 30 },
        { uri: 'file:///work/src/older.ts', languageId: 'typescript', text: 'export const older = 1;', focusLine: 0 },
      ],
      'typescript',
      160,
      (t) => t.length,
    );
    assert.ok(text.startsWith('// Path: src/older.ts\n'), text);
    assert.ok(text.indexOf('// Path: src/recent.ts\n') > text.indexOf('older = 1'), 'the most recent last');
    assert.ok(text.includes('line 30'));
    assert.ok(!text.includes('line 0\n'));
    assert.ok(text.includes('// Path: src/older.ts\nexport const older = 1;'));
    assert.ok(text.length <= 160 + 1);
    assert.equal(extraContext([{ uri: 'file:///a.py', languageId: 'python', text: 'x = 1', focusLine: 0 }], 'python', 100, (t) => t.length), '# Path: /a.py\nx = 1\n');
  });
});

describe('prompt builder', () => {
  const source = Array.from({ length: 400 }, (_, i) => `  const value${i} = compute(${i}); // step ${i}`).join('\n');

  test('typing at the cursor keeps the window start and every prompt token but the last few', () => {
    const v3 = referenceTokenizer('v3');
    const builder = new PromptBuilder({ template: resolveTemplate('auto', v3), tokenizer: v3, shares: { total: 1024, suffixShare: 0.2, extraShare: 0 } });
    let doc = TextDocument.create('file:///a.ts', 'typescript', 1, source);
    const memo: WindowMemo = {};
    const line = 300;
    const first = builder.build(doc, { line, character: 10 }, [], memo);
    assert.ok(first.tokens!.length > 700 && first.tokens!.length <= 1024 + 8, `prompt of ${first.tokens!.length} tokens`);
    assert.ok(first.startLine > 0 && first.startLine < line);
    let previous = first;
    for (const [i, ch] of [...'xyz = 1'].entries()) {
      doc = TextDocument.update(doc, [{ range: { start: { line, character: 10 + i }, end: { line, character: 10 + i } }, text: ch }], doc.version + 1);
      const next = builder.build(doc, { line, character: 11 + i }, [], memo);
      assert.equal(next.startLine, first.startLine);
      assert.equal(next.suffix, first.suffix, 'typing does not change the suffix');
      let common = 0;
      while (previous.tokens![common] === next.tokens![common]) common++;
      assert.ok(previous.tokens!.length - common <= 3, `recomputed ${next.tokens!.length - common} tokens`);
      previous = next;
    }
  });

  test('a prompt that ends in the text before the cursor is healable; one that ends in a control token is not', () => {
    const tok = charTokenizer({ '[SUFFIX]': 13, '[PREFIX]': 11, '<fim_prefix>': 20, '<fim_suffix>': 21, '<fim_middle>': 22 });
    const doc = TextDocument.create('file:///h.ts', 'typescript', 1, 'const x = f("a");\n');
    const at = { line: 0, character: 15 }; // after `f("a"`
    const build = (name: 'mistral' | 'prefix-only' | 'starcoder') =>
      new PromptBuilder({ template: resolveTemplate(name, tok), tokenizer: tok, shares: { total: 600, suffixShare: 0.3, extraShare: 0 } }).build(doc, at, [], {});
    assert.equal(build('mistral').healable, true, 'suffix-first FIM ends in the prefix');
    assert.equal(build('prefix-only').healable, true);
    assert.equal(build('starcoder').healable, false, 'prefix-suffix-middle ends in <fim_middle>');
    assert.equal(build('mistral').tokens!.at(-1), 100 + '"'.charCodeAt(0));
  });

  test('a new line typed at the cursor leaves the suffix text unchanged', () => {
    const tok = charTokenizer();
    const builder = new PromptBuilder({ template: resolveTemplate('mistral', tok), tokenizer: tok, shares: { total: 600, suffixShare: 0.3, extraShare: 0 } });
    let doc = TextDocument.create('file:///b.ts', 'typescript', 1, source);
    const memo: WindowMemo = {};
    const before = builder.build(doc, { line: 100, character: 5 }, [], memo);
    doc = TextDocument.update(doc, [{ range: { start: { line: 100, character: 5 }, end: { line: 100, character: 5 } }, text: '\n  ' }], 2);
    const after = builder.build(doc, { line: 101, character: 2 }, [], memo);
    assert.equal(after.suffix, before.suffix);
    assert.ok(before.suffix.length <= 180 && before.suffix.length > 100);
    assert.equal(after.prefix, before.prefix + '\n  ');
  });

  test('an edit after the cursor changes the suffix (the cached one is not reused)', () => {
    const tok = charTokenizer();
    const builder = new PromptBuilder({ template: resolveTemplate('mistral', tok), tokenizer: tok, shares: { total: 600, suffixShare: 0.3, extraShare: 0 } });
    let doc = TextDocument.create('file:///d.ts', 'typescript', 1, source);
    const memo: WindowMemo = {};
    const before = builder.build(doc, { line: 100, character: 5 }, [], memo);
    doc = TextDocument.update(doc, [{ range: { start: { line: 101, character: 2 }, end: { line: 101, character: 7 } }, text: 'let' }], 2);
    const after = builder.build(doc, { line: 100, character: 5 }, [], memo);
    assert.notEqual(after.suffix, before.suffix);
    assert.ok(after.suffix.includes('\n  let value101'));
    // An edit just past the suffix's last line changes whether another line fits.
    const lastLine = 100 + before.suffix.split('\n').length;
    doc = TextDocument.update(doc, [{ range: { start: { line: lastLine, character: 0 }, end: { line: lastLine, character: 0 } }, text: 'x' }], 3);
    assert.equal(builder.build(doc, { line: 100, character: 5 }, [], memo).suffix, after.suffix);
    assert.equal(memo.suffix?.text, after.suffix);
  });

  test('line context for post-processing and CRLF documents', () => {
    const tok = charTokenizer();
    const builder = new PromptBuilder({ template: resolveTemplate('prefix-only', tok), tokenizer: tok, shares: { total: 500, suffixShare: 0.2, extraShare: 0 } });
    const doc = TextDocument.create('file:///c.ts', 'typescript', 1, 'if (a) {\r\n  call(x);\r\n}\r\n');
    const built = builder.build(doc, { line: 1, character: 7 }, [], {});
    assert.equal(built.linePrefix, '  call(');
    assert.equal(built.lineSuffix, 'x);');
    assert.equal(built.after, '}\r\n');
    // Shown to the model with \n line ends, after the file's path.
    assert.equal(built.prefix, 'if (a) {\n  call(');
    assert.equal(built.suffix, '');
    assert.deepEqual(built.tokens, [1, ...tok.encode('// Path: /c.ts\nif (a) {\n  call(')]);
  });
});
