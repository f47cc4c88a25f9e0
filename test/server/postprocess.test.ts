// Post-processing of raw model text into the suggestion shown.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { completionMode, postProcess, trimSuffixOverlap, type CursorContext } from '../../server/complete/postprocess';

const ctx = (linePrefix: string, lineSuffix = '', after = '', maxLines = 12): CursorContext => ({ linePrefix, lineSuffix, after, maxLines });

describe('post-processing', () => {
  test('mid-line with code after the cursor: one line', () => {
    assert.equal(completionMode(ctx('const x = ', 'foo;')), 'single-line');
    const out = postProcess('compute(1)\nconst y = 2;', ctx('const x = ', ''), true);
    assert.deepEqual(out, { text: 'compute(1)', done: true, reason: 'line-end' });
  });

  test('mode: arguments between auto-closed brackets stay on the line, a body between braces does not', () => {
    assert.equal(completionMode(ctx('  call(', ')')), 'single-line');
    assert.equal(completionMode(ctx('  const a = [', '];')), 'single-line');
    assert.equal(completionMode(ctx('function f() {', '}')), 'multi-line');
    assert.equal(completionMode(ctx('  call(', '')), 'multi-line');
    assert.equal(completionMode(ctx('def f(x):', '')), 'multi-line');
    assert.equal(completionMode(ctx('  x = 1', '')), 'single-line');
    assert.equal(completionMode(ctx('    ', '')), 'multi-line');
  });

  test('an empty line or a block opener: several lines, cut where the block ends', () => {
    const c = ctx('function f() {', '', '\nexport {};\n');
    assert.equal(completionMode(c), 'multi-line');
    const out = postProcess('\n  const a = 1;\n  return a;\n}\n\nfunction g() {', c, false);
    assert.equal(out.text, '\n  const a = 1;\n  return a;\n}');
    assert.equal(out.done, true);
    assert.equal(out.reason, 'block-end');
  });

  test('the closing line is left out when the document already has it', () => {
    const c = ctx('  if (ok) {', '', '  }\n}\n');
    const out = postProcess('\n    run();\n  }\n  next();', c, false);
    assert.equal(out.text, '\n    run();');
    assert.equal(out.done, true);
  });

  test('inside a block, a line indented less than the cursor ends the suggestion', () => {
    const c = ctx('    ', '', '}\n');
    const out = postProcess('const a = 1;\n    return a;\n}\nconst z = 0;', c, false);
    assert.equal(out.text, 'const a = 1;\n    return a;');
    assert.equal(out.done, true);
  });

  test('streaming: an unfinished block is shown as it grows and not yet done', () => {
    const c = ctx('def f(x):', '', '');
    const out = postProcess('\n    y = x * 2\n    ret', c, false);
    assert.equal(out.text, '\n    y = x * 2\n    ret');
    assert.equal(out.done, false);
  });

  test('maxLines caps a block', () => {
    const c = ctx('', '', '', 3);
    const out = postProcess('a\nb\nc\nd\ne', c, false);
    assert.equal(out.text, 'a\nb\nc');
    assert.equal(out.reason, 'max-lines');
  });

  test('two blank lines end a block', () => {
    const out = postProcess('a = 1\n\n\nb = 2\n', ctx(''), false);
    assert.equal(out.text, 'a = 1');
    assert.equal(out.done, true);
  });

  test('a block the model starts repeating from the document is cut', () => {
    const out = postProcess('x += 1\nreturn x\n', ctx('', '', 'return x\n'), false);
    assert.equal(out.text, 'x += 1');
  });

  test('brackets: a closer that closes nothing is cut, one the editor inserted is not repeated', () => {
    assert.equal(postProcess('a, b)', ctx('call(', ')'), true).text, 'a, b');
    assert.equal(postProcess('a, b))', ctx('call(', ')'), true).text, 'a, b');
    assert.deepEqual(postProcess('x]', ctx('const y = ', ''), true), { text: 'x', done: true, reason: 'unbalanced' });
    // Brackets inside strings do not count.
    assert.equal(postProcess('")" + y', ctx('const s = '), true).text, '")" + y');
  });

  test('suffix overlap: closing punctuation or the whole rest of the line', () => {
    assert.equal(trimSuffixOverlap('x);', ');'), 'x');
    assert.equal(trimSuffixOverlap('name', 'me'), 'na');
    assert.equal(trimSuffixOverlap('nam', 'me, b)'), 'nam', 'a word is not overlap');
  });

  test('indentation of following lines is kept as generated', () => {
    const out = postProcess('\n\tif (a) {\n\t\tb();\n\t}', ctx('function f() {'), true);
    assert.equal(out.text, '\n\tif (a) {\n\t\tb();\n\t}');
  });
});
