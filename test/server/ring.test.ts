// The ring of context chunks: most recent first, definitions before viewed chunks,
// alike chunks replacing each other, bounded.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ChunkRing, similarity } from '../../server/prompt/ring';

const chunk = (uri: string, text: string, kind: 'definition' | 'viewed' = 'viewed') => ({ uri, languageId: 'python', text, kind });

describe('context chunk ring', () => {
  test('similarity is the share of lines in common', () => {
    assert.equal(similarity('a\nb\nc', 'a\nb\nc'), 1);
    assert.equal(similarity('a\nb', 'c\nd'), 0);
    assert.equal(similarity('a\nb\nc', 'b\nc\nd'), 0.5);
  });

  test('a chunk much like one held replaces it; the version counts changes only', () => {
    const ring = new ChunkRing(4);
    ring.add(chunk('file:///a.py', 'l1\nl2\nl3\nl4'));
    ring.add(chunk('file:///b.py', 'other'));
    const version = ring.version;
    ring.add(chunk('file:///b.py', 'other'));
    assert.equal(ring.version, version, 'the same chunk again changes nothing');
    ring.add(chunk('file:///a.py', 'l2\nl3\nl4\nl5')); // scrolled by one line
    assert.deepEqual(ring.list().map((c) => c.text), ['l2\nl3\nl4\nl5', 'other']);
  });

  test('definitions come first, and the ring is bounded', () => {
    const ring = new ChunkRing(3);
    ring.add(chunk('file:///v.py', 'viewed one'));
    ring.add(chunk('file:///d.py', 'def f(x):\n    return x', 'definition'));
    for (let i = 0; i < 5; i++) ring.add(chunk(`file:///v${i}.py`, `viewed ${i} unique`));
    const list = ring.list();
    assert.equal(list.length, 3);
    assert.ok(list.every((c) => c.kind === 'viewed'), 'the oldest, the definition included, fell out');
    ring.add(chunk('file:///d.py', 'def g(y):\n    return y', 'definition'));
    assert.equal(ring.list()[0].kind, 'definition');
  });
});
