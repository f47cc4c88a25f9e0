// The repetition guard: which answer ends are loops, and how much is kept.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { findLoop } from '../../server/chat/repetition';

describe('findLoop', () => {
  const sentence = '\n\nThe radius is the size.';
  test('a sentence three times: cut after the first', () => {
    const text = `A circle.${sentence}${sentence}${sentence}`;
    assert.equal(text.slice(0, findLoop(text)), `A circle.${sentence}`);
  });

  test('twice is not yet a loop; nor are different sentences', () => {
    assert.equal(findLoop(`A circle.${sentence}${sentence}`), undefined);
    assert.equal(findLoop('The radius is 1. The radius is 2. The radius is 3. The radius is 4.'), undefined);
  });

  test('found whatever the copies are cut at (the stream ends mid-copy)', () => {
    const text = `A circle.${sentence}${sentence}${sentence}${sentence.slice(0, 7)}`;
    const keep = findLoop(text);
    assert.ok(keep !== undefined);
    assert.ok(!text.slice(0, keep).includes(`${sentence}${sentence}`), 'no second whole copy kept');
  });

  test('a repeated code block is a loop; rules and short repeats are not', () => {
    const block = '\n    if shape == 2:\n        shape = shape.T';
    assert.ok(findLoop(`def f(shape):${block}${block}${block}`) !== undefined);
    assert.equal(findLoop('| a | b |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|'), undefined);
    assert.equal(findLoop('-'.repeat(200)), undefined);
    assert.equal(findLoop('ha ha ha ha ha ha ha ha'), undefined);
    assert.equal(findLoop('€'.repeat(100)), undefined);
    assert.ok(findLoop('Tiesé, us - Add a day of a day of a day of a day of a day of a day of a day of') !== undefined, 'a short phrase over and over');
  });

  test('a few letters back to back over a long stretch is a loop (seen through a remote server)', () => {
    const text = `Recursion is when ${'ass'.repeat(40)}`;
    assert.equal(text.slice(0, findLoop(text)), 'Recursion is when ass');
    assert.equal(findLoop(`x = ${'0'.repeat(20)}`), undefined, 'a short run of one digit is content');
    assert.equal(findLoop(`Title\n${'='.repeat(120)}`), undefined, 'an underline has no letter or digit');
  });
});
