// Mistral Instruct chat prompts, checked against the token ids mistral-common documents.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { chatTokens, detectChatTemplate } from '../../server/prompt/chat';
import type { ChatMessage } from '../../server/protocol';
import { referenceTokenizer } from '../helpers/prompt-tokenizer';

const conversation: ChatMessage[] = [
  { role: 'user', content: 'user message' },
  { role: 'assistant', content: 'assistant message' },
  { role: 'user', content: 'new user message' },
];

describe('Mistral Instruct chat template', () => {
  test('v1: "<s> [INST] user message [/INST] assistant message</s> [INST] new user message [/INST]"', () => {
    const v1 = referenceTokenizer('v1');
    assert.equal(detectChatTemplate(v1), 'mistral-v1');
    // The ids mistral-common's v1 tokenizer produces for this conversation.
    assert.deepEqual(chatTokens(v1, 'mistral-v1', conversation), [
      1, 733, 16289, 28793, 2188, 2928, 733, 28748, 16289, 28793, 13892, 2928, 2, 733, 16289, 28793, 633, 2188, 2928, 733, 28748, 16289, 28793,
    ]);
  });

  test('v3: [INST] and [/INST] are control tokens; "<s>[INST] user message[/INST] assistant message</s>…"', () => {
    const v3 = referenceTokenizer('v3');
    assert.equal(detectChatTemplate(v3), 'mistral-v3');
    assert.deepEqual(chatTokens(v3, 'mistral-v3', conversation), [1, 3, 2956, 3696, 4, 14660, 3696, 2, 3, 1401, 2956, 3696, 4]);
  });

  test('the system prompt goes before the first user message in v1, the last in v3', () => {
    const v1 = referenceTokenizer('v1');
    const v3 = referenceTokenizer('v3');
    const system = 'Be brief.';
    assert.deepEqual(chatTokens(v1, 'mistral-v1', conversation, system).slice(1, 1 + v1.encode(`[INST] ${system}\n\nuser message [/INST]`).length), v1.encode(`[INST] ${system}\n\nuser message [/INST]`));
    const ids = chatTokens(v3, 'mistral-v3', conversation, system);
    assert.deepEqual(ids.slice(-(v3.encode(`${system}\n\nnew user message`).length + 2)), [3, ...v3.encode(`${system}\n\nnew user message`), 4]);
    assert.deepEqual(ids.slice(0, 5), [1, 3, 2956, 3696, 4], 'the first user message is untouched');
  });

  test('v3 strips trailing spaces of assistant messages, as mistral-common does', () => {
    const v3 = referenceTokenizer('v3');
    const spaced = [conversation[0], { role: 'assistant' as const, content: 'assistant message  ' }, conversation[2]];
    assert.deepEqual(chatTokens(v3, 'mistral-v3', spaced), chatTokens(v3, 'mistral-v3', conversation));
  });

  test('roles must alternate and end with the user', () => {
    const v3 = referenceTokenizer('v3');
    assert.throws(() => chatTokens(v3, 'mistral-v3', []), /empty/);
    assert.throws(() => chatTokens(v3, 'mistral-v3', [conversation[1]]), /alternate/);
    assert.throws(() => chatTokens(v3, 'mistral-v3', conversation.slice(0, 2)), /end with a user/);
  });
});
