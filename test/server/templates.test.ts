// FIM templates: detection from special tokens, and token-exact prompts per family.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { templateForModelName } from '../../server/backends/remote';
import { detectTemplate, renderTokens, resolveTemplate, stopTokenIds } from '../../server/prompt/templates';
import { encodeBare } from '../../server/prompt/tokenizer';
import { charTokenizer, referenceTokenizer } from '../helpers/prompt-tokenizer';

const v3 = referenceTokenizer('v3');
const v1 = referenceTokenizer('v1');

describe('template detection', () => {
  test('the v3 vocabulary ([SUFFIX]/[PREFIX]) gets suffix-first Mistral FIM', () => {
    assert.equal(detectTemplate(v3), 'mistral');
  });
  test('the v1 vocabulary (no FIM tokens) gets prefix-only', () => {
    assert.equal(detectTemplate(v1), 'prefix-only');
  });
  test('CodeLlama and StarCoder vocabularies are recognised by their tokens', () => {
    assert.equal(detectTemplate(charTokenizer({ '▁<PRE>': 32007, '▁<SUF>': 32008, '▁<MID>': 32009, '▁<EOT>': 32010 })), 'codellama');
    assert.equal(detectTemplate(charTokenizer({ '<fim_prefix>': 1, '<fim_suffix>': 3, '<fim_middle>': 2 })), 'starcoder');
  });
  test('an override wins over detection, and one the vocabulary cannot express is an error', () => {
    assert.equal(resolveTemplate('prefix-only', v3).name, 'prefix-only');
    assert.throws(() => resolveTemplate('mistral', v1), /needs the token \[SUFFIX\]/);
    assert.throws(() => resolveTemplate('codellama', v3), /needs the token <PRE>/);
  });
});

describe('Mistral suffix-first FIM (mistral-common encode_fim)', () => {
  const template = resolveTemplate('auto', v3);
  const encode = (text: string) => v3.encode(text);

  test('[BOS] [SUFFIX] suffix-without-leading-space [PREFIX] prefix', () => {
    const prefix = 'def add(a, b):\n    return';
    const suffix = '\n\nprint(add(1, 2))\n';
    const ids = renderTokens(template.segments(prefix, suffix), v3);
    // mistral-common: suffix through _encode_infilling = encode("☺" + s)[2:]
    const bareSuffix = encode('☺' + suffix).slice(2);
    assert.deepEqual(ids, [1, 13, ...bareSuffix, 11, ...encode(prefix)]);
    // The infilling encoding really drops the dummy space: it differs from encode().
    assert.notDeepEqual(bareSuffix, encode(suffix));
    assert.equal(ids.filter((id) => id === 12).length, 0, 'no [MIDDLE] token in Codestral FIM');
  });

  test('an empty suffix is left out entirely', () => {
    assert.deepEqual(renderTokens(template.segments('x = 1', ''), v3), [1, 13, 11, ...encode('x = 1')]);
  });

  test('encodeBare matches the known ids of "☺" (▁ and ☺ are two tokens)', () => {
    assert.deepEqual(encode('☺'), [29473, 31369]);
    assert.deepEqual(encodeBare(v3, 'x'), encode('☺x').slice(2));
  });

  test('typing at the end of the prefix keeps every token before the last word', () => {
    const suffix = '\n}\n';
    const before = renderTokens(template.segments('function f() {\n  const total = compute', suffix), v3);
    const after = renderTokens(template.segments('function f() {\n  const total = computeT', suffix), v3);
    let common = 0;
    while (before[common] === after[common]) common++;
    assert.ok(before.length - common <= 3, `only the last word's tokens change (${before.length - common})`);
  });

  test('text form for servers that parse control tokens', () => {
    assert.equal(template.text('a', 'b'), '[SUFFIX]b[PREFIX]a');
  });
});

describe('other templates', () => {
  test('prefix-only: [BOS] and the prefix', () => {
    const template = resolveTemplate('prefix-only', v1);
    assert.deepEqual(renderTokens(template.segments('import os', 'ignored'), v1), [1, ...v1.encode('import os')]);
    assert.equal(template.usesSuffix, false);
  });

  test('CodeLlama: <PRE> prefix <SUF> bare suffix <MID>, stopping at <EOT>', () => {
    const pieces = { '▁<PRE>': 32007, '▁<SUF>': 32008, '▁<MID>': 32009, '▁<EOT>': 32010 };
    const tok = { ...referenceTokenizer('v1', pieces) };
    const template = resolveTemplate('auto', tok);
    assert.equal(template.name, 'codellama');
    const ids = renderTokens(template.segments('int x', ';\n'), tok);
    assert.deepEqual(ids, [1, 32007, ...v1.encode('int x'), 32008, ...v1.encode('☺;\n').slice(2), 32009]);
    assert.deepEqual(stopTokenIds(template, tok), [32010]);
    assert.equal(template.text('int x', ';'), '<PRE> int x <SUF>; <MID>');
  });

  test('StarCoder: no BOS, <fim_prefix>…<fim_suffix>…<fim_middle>', () => {
    const tok = charTokenizer({ '<fim_prefix>': 1, '<fim_middle>': 2, '<fim_suffix>': 3, '<|endoftext|>': 0 });
    const template = resolveTemplate('starcoder', tok);
    const ids = renderTokens(template.segments('ab', 'c'), tok);
    assert.deepEqual(ids, [1, ...encodeBare(tok, 'ab'), 3, ...encodeBare(tok, 'c'), 2]);
    assert.equal(template.text('ab', 'c'), '<fim_prefix>ab<fim_suffix>c<fim_middle>');
    // <|endoftext|> and <fim_prefix> are in this vocabulary, <file_sep> is not.
    assert.deepEqual(stopTokenIds(template, tok), [0, 1]);
  });
});

describe('the auto template of a remote model known only by its name', () => {
  test('FIM families by name; anything else continues the prefix', () => {
    assert.equal(templateForModelName('mistralai/Codestral-22B-v0.1'), 'mistral');
    assert.equal(templateForModelName('codellama/CodeLlama-7b-hf'), 'codellama');
    assert.equal(templateForModelName('bigcode/starcoder2-3b'), 'starcoder');
    assert.equal(templateForModelName('mistralai/Mistral-7B-v0.1'), 'prefix-only');
  });
});
