// The completion cache: typing through a suggestion is served without the engine.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CompletionCache } from '../../server/complete/cache';

describe('completion cache', () => {
  const doc = 'function area(r) {\n  return \n}\n';
  const cursor = doc.indexOf('return ') + 'return '.length;

  test('typing the suggestion character by character returns its rest', () => {
    const cache = new CompletionCache();
    cache.store('file:///a.js', doc, cursor, 'Math.PI * r * r;');
    let text = doc;
    let offset = cursor;
    for (const ch of 'Math.PI') {
      text = text.slice(0, offset) + ch + text.slice(offset);
      offset++;
    }
    assert.equal(cache.lookup('file:///a.js', text, offset)?.text, ' * r * r;');
    assert.equal(cache.hits, 1);
  });

  test('a different character, another document, or an edit before the anchor misses', () => {
    const cache = new CompletionCache();
    cache.store('file:///a.js', doc, cursor, 'Math.PI * r * r;');
    const typed = (t: string) => doc.slice(0, cursor) + t + doc.slice(cursor);
    assert.equal(cache.lookup('file:///a.js', typed('Mx'), cursor + 2), undefined);
    assert.equal(cache.lookup('file:///b.js', typed('M'), cursor + 1), undefined);
    const edited = 'function area(radius) {\n  return M\n}\n';
    assert.equal(cache.lookup('file:///a.js', edited, edited.indexOf('return M') + 8), undefined);
    assert.equal(cache.misses, 3);
  });

  test('the same position again is a hit; typing the whole suggestion is not', () => {
    const cache = new CompletionCache();
    cache.store('file:///a.js', doc, cursor, 'r;');
    assert.equal(cache.lookup('file:///a.js', doc, cursor)?.text, 'r;');
    const done = doc.slice(0, cursor) + 'r;' + doc.slice(cursor);
    assert.equal(cache.lookup('file:///a.js', done, cursor + 2), undefined);
  });

  test('an edit anywhere in the document misses, however far from the cursor', () => {
    const long = '# ' + 'x'.repeat(1000) + '\n' + doc + 'y'.repeat(1000) + '\n';
    const at = long.indexOf('return ') + 'return '.length;
    const cache = new CompletionCache();
    cache.store('file:///a.js', long, at, 'Math.PI * r * r;');
    const editedStart = 'Z' + long.slice(1);
    const editedEnd = long.slice(0, -2) + 'Z\n';
    assert.equal(cache.lookup('file:///a.js', editedStart, at), undefined);
    assert.equal(cache.lookup('file:///a.js', editedEnd, at), undefined);
    assert.equal(cache.lookup('file:///a.js', long, at)?.text, 'Math.PI * r * r;');
  });

  test('clear() forgets every suggestion', () => {
    const cache = new CompletionCache();
    cache.store('file:///a.js', doc, cursor, 'r;');
    cache.clear();
    assert.equal(cache.lookup('file:///a.js', doc, cursor), undefined);
  });
});
