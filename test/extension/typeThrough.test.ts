// Typing through a suggestion: which documents still match it, and what is left.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { remainderAfterTyping, type Anchored } from '../../extension/completion/typeThrough';

const anchored: Anchored = { before: 'x = ', after: '\nprint(x)\n', text: 'compute(1, 2)' };
const at = (typed: string, after = anchored.after) => {
  const text = anchored.before + typed + after;
  return remainderAfterTyping(anchored, text, anchored.before.length + typed.length);
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
    assert.equal(remainderAfterTyping(anchored, text, 6), undefined);
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
});
