// Typing through a suggestion: which documents still match it, and what is left.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { remainderAfterTyping, type Anchored } from '../../extension/completion/typeThrough';

const anchored: Anchored = { before: 'x = ', after: '\nprint(x)\n', text: 'compute(1, 2)' };
const at = (typed: string, after = anchored.after) => {
  const text = anchored.before + typed + after;
  return remainderAfterTyping(anchored, text, anchored.before.length + typed.length)?.text;
};

describe('remainderAfterTyping', () => {
  it('is the whole suggestion at the anchor', () => {
    assert.equal(at(''), 'compute(1, 2)');
  });

  it('drops what has been typed', () => {
    assert.equal(at('c'), 'ompute(1, 2)');
    assert.equal(at('compute('), '1, 2)');
  });

  it('is empty once all of it is typed', () => {
    assert.equal(at('compute(1, 2)'), '');
  });

  it('does not match typing that differs from the suggestion', () => {
    assert.equal(at('cx'), undefined);
    assert.equal(at('C'), undefined);
  });

  it('does not match typing past the end of the suggestion', () => {
    assert.equal(at('compute(1, 2);'), undefined);
  });

  it('does not match after an edit before the anchor or after the cursor', () => {
    const text = 'y = ' + 'co' + anchored.after;
    assert.equal(remainderAfterTyping(anchored, text, 6)?.text, undefined);
    assert.equal(at('co', '\nprint(y)\n'), undefined);
  });

  it('does not match a cursor before the anchor (a deletion)', () => {
    const text = 'x =' + anchored.after;
    assert.equal(remainderAfterTyping(anchored, text, 3), undefined);
  });

  it('does not match when the cursor is not where the typing ended', () => {
    const text = anchored.before + 'co' + anchored.after;
    assert.equal(remainderAfterTyping(anchored, text, anchored.before.length + 1), undefined);
  });

  it('matches an auto-closed bracket or quote after the cursor, which the rest then replaces', () => {
    const call: Anchored = { before: 'x = ', after: '\n', text: 'area(r, "cm")' };
    // Typing "(" gave "()"; typing '"' gave '""'.
    assert.deepEqual(remainderAfterTyping(call, 'x = area()\n', 9), { text: 'r, "cm")', replace: 1 });
    assert.deepEqual(remainderAfterTyping(call, 'x = area(r, "")\n', 13), { text: 'cm")', replace: 2 });
    // Typed over the auto-closed bracket: nothing left to replace.
    assert.deepEqual(remainderAfterTyping(call, 'x = area(r, "cm")\n', 17), { text: '', replace: 0 });
  });

  it('does not match closers after the cursor that the suggestion does not have, or other text there', () => {
    const call: Anchored = { before: 'x = ', after: '\n', text: 'area(r)' };
    assert.equal(remainderAfterTyping(call, 'x = area(]\n', 9), undefined);
    assert.equal(remainderAfterTyping(call, 'x = area(q\n', 9), undefined);
  });

  it('matches Enter typed as CRLF in a CRLF file against a suggestion with \\n line ends', () => {
    const block: Anchored = { before: 'def f():\r\n    ', after: '\r\n', text: 'a = 1\n    return a' };
    const typed = 'a = 1\r\n    ';
    const text = block.before + typed + block.after;
    assert.deepEqual(remainderAfterTyping(block, text, block.before.length + typed.length), { text: 'return a', replace: 0 });
  });
});
