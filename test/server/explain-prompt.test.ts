// The Explain question: which lines a selection names, and the same words as the
// instruction pairs the default model was trained on (training/instructions.cjs).
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, test } from 'node:test';
import { explainQuestion, fencedCode, selectedLines } from '../../server/prompt/chat';

const require = createRequire(import.meta.url);
const { minePairs } = require('../../training/instructions.cjs') as {
  minePairs: (text: string, lang: string, file: string, seed: number, serverQuestionOnly: boolean) => { kind: string; name: string; user: string }[];
};

const at = (line: number, character: number) => ({ line, character });

describe('the Explain question', () => {
  test('whole lines selected up to column 0 of the next line name only the lines selected', () => {
    assert.deepEqual(selectedLines({ start: at(3, 0), end: at(5, 0) }), [4, 5]);
    assert.deepEqual(selectedLines({ start: at(3, 0), end: at(4, 0) }), [4, 4]);
  });

  test('a selection that ends inside a line names that line', () => {
    assert.deepEqual(selectedLines({ start: at(3, 4), end: at(5, 2) }), [4, 6]);
    assert.deepEqual(selectedLines({ start: at(3, 2), end: at(3, 9) }), [4, 4]);
    assert.deepEqual(selectedLines({ start: at(3, 0), end: at(3, 0) }), [4, 4], 'an empty selection names its line');
  });

  test('is asked in the words of the training pairs', () => {
    const file = 'import math\n\n\ndef circle_area(radius):\n    """Return the area of a circle of the given radius."""\n    return math.pi * radius ** 2\n';
    const pair = minePairs(file, 'python', 'pkg/geometry.py', 1, true).find((p) => p.kind === 'explain');
    const code = 'def circle_area(radius):\n    return math.pi * radius ** 2\n';
    assert.equal(pair?.user, explainQuestion('python', fencedCode('geometry.py', [4, 6], 'python', code)));
  });
});
