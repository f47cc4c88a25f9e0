// Reading the server's inline completion items: the text to insert at the cursor.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { suggestionText } from '../../extension/completion/lspBackend';

const at = { line: 4, character: 7, linePrefix: '    ret' };

describe('suggestionText', () => {
  it('takes the first item inserted at the cursor', () => {
    const range = { start: { line: 4, character: 7 }, end: { line: 4, character: 7 } };
    assert.equal(suggestionText({ items: [{ insertText: 'urn x', range }, { insertText: 'other' }] }, at), 'urn x');
    assert.equal(suggestionText([{ insertText: 'urn y' }], at), 'urn y');
  });

  it('drops the part of an item that repeats the text before the cursor', () => {
    const range = { start: { line: 4, character: 4 }, end: { line: 4, character: 7 } };
    assert.equal(suggestionText([{ insertText: 'return x', range }], at), 'urn x');
  });

  it('skips items that do not agree with the text before the cursor, or are elsewhere', () => {
    const lineStart = { start: { line: 4, character: 4 }, end: { line: 4, character: 7 } };
    const otherLine = { start: { line: 3, character: 0 }, end: { line: 3, character: 0 } };
    const after = { start: { line: 4, character: 8 }, end: { line: 4, character: 8 } };
    assert.equal(suggestionText([{ insertText: 'raise x', range: lineStart }, { insertText: 'x', range: otherLine }, { insertText: 'y', range: after }], at), undefined);
  });

  it('an item replacing auto-closed brackets after the cursor gives its text without them', () => {
    const call = { line: 1, character: 10, linePrefix: '    print(' };
    const replacing = { start: { line: 1, character: 10 }, end: { line: 1, character: 11 } };
    assert.equal(suggestionText([{ insertText: 'name)', range: replacing }], call), 'name');
    // Closers that are not the end of the text cannot be shown as ghost text before them.
    assert.equal(suggestionText([{ insertText: 'a) + f(b', range: replacing }], call), undefined);
  });

  it('reads snippet items as their text', () => {
    assert.equal(suggestionText([{ insertText: { kind: 'snippet', value: 'urn 1' } }], at), 'urn 1');
  });

  it('has nothing for an empty or missing result', () => {
    assert.equal(suggestionText(null, at), undefined);
    assert.equal(suggestionText({ items: [] }, at), undefined);
  });
});
