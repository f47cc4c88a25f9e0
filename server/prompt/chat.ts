// Mistral Instruct chat prompts, token for token as mistral-common encodes them.
//
// v1 (32000 vocabulary, [INST] is plain text):
//   [BOS] encode("[INST] {user} [/INST]") encode(assistant) [EOS] encode("[INST] {user} [/INST]") …
//   with the system prompt prepended to the FIRST user message ("{system}\n\n{user}").
// v2/v3 ([INST] and [/INST] are control tokens):
//   [BOS] [INST] encode(user) [/INST] encode(assistant.rstrip(" ")) [EOS] [INST] encode(user) [/INST] …
//   with the system prompt prepended to the LAST user message.
import type { Range } from 'vscode-languageserver-protocol';
import type { ChatMessage, ChatTemplateName } from '../protocol';
import type { PromptTokenizer } from './tokenizer';

export function detectChatTemplate(tokenizer: PromptTokenizer): ChatTemplateName {
  return tokenizer.tokenId('[INST]') !== undefined && tokenizer.tokenId('[/INST]') !== undefined ? 'mistral-v3' : 'mistral-v1';
}

/** Roles must alternate user/assistant, starting and ending with the user. */
export function validateConversation(messages: ChatMessage[]): void {
  if (messages.length === 0) throw new Error('the conversation is empty');
  messages.forEach((message, i) => {
    const expected = i % 2 === 0 ? 'user' : 'assistant';
    if (message.role !== expected) {
      throw new Error(`message ${i} has role "${message.role}": roles must alternate user/assistant, starting with user`);
    }
    if (typeof message.content !== 'string') throw new Error(`message ${i} has no text content`);
  });
  if (messages.at(-1)!.role !== 'user') throw new Error('the conversation must end with a user message');
}

export function chatTokens(
  tokenizer: PromptTokenizer,
  template: ChatTemplateName,
  messages: ChatMessage[],
  system?: string,
): number[] {
  validateConversation(messages);
  const ids = [tokenizer.bosId];
  const lastUser = messages.length - 1;
  const withSystem = (content: string) => (system ? `${system}\n\n${content}` : content);
  if (template === 'mistral-v1') {
    messages.forEach((message, i) => {
      if (message.role === 'user') {
        const content = i === 0 ? withSystem(message.content) : message.content;
        ids.push(...tokenizer.encode(`[INST] ${content} [/INST]`));
      } else {
        ids.push(...tokenizer.encode(message.content), tokenizer.eosId);
      }
    });
  } else {
    const begin = tokenizer.tokenId('[INST]');
    const end = tokenizer.tokenId('[/INST]');
    if (begin === undefined || end === undefined) throw new Error('the mistral-v3 chat template needs [INST] and [/INST] control tokens');
    messages.forEach((message, i) => {
      if (message.role === 'user') {
        const content = i === lastUser ? withSystem(message.content) : message.content;
        ids.push(begin, ...tokenizer.encode(content), end);
      } else {
        ids.push(...tokenizer.encode(message.content.replace(/ +$/, '')), tokenizer.eosId);
      }
    });
  }
  return ids;
}

/**
 * The 1-based first and last lines a selection covers. A selection that ends at column 0
 * (whole lines, as editors select them) takes in nothing of its end line.
 */
export function selectedLines(range: Range): [number, number] {
  const endsAtLineStart = range.end.character === 0 && range.end.line > range.start.line;
  return [range.start.line + 1, endsAtLineStart ? range.end.line : range.end.line + 1];
}

/** Code quoted in a question: `name, lines a–b:` (1-based) then a block fenced with its language. */
export function fencedCode(name: string, lines: [number, number] | undefined, language: string, code: string): string {
  const where = lines ? `${name}, lines ${lines[0]}–${lines[1]}` : name;
  return `${where}:\n\`\`\`${language}\n${code.replace(/\n$/, '')}\n\`\`\``;
}

/** The Explain Selection question (training/instructions.cjs mines its pairs with the same words). */
export function explainQuestion(language: string, fenced: string): string {
  return `Explain what this ${language} code does, briefly: its purpose, how it works, and anything surprising.\n\n${fenced}`;
}
