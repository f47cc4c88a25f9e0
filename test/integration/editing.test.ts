// What an editor does to the server while the user types, through a real
// `tramontane serve --stdio` on the embedded demo model (greedy, so every suggestion is
// known): auto-closed brackets, CRLF files and characters outside the BMP in UTF-16
// positions, the completion cache's checks, and the files that never go into a prompt.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DidChangeConfigurationNotification, ResponseError } from 'vscode-languageserver-protocol/node';
import { ContextChunksNotification, ErrorCodes } from '../../server/protocol';
import { LspClient, itemsOf } from '../helpers/lsp-client';

let client: LspClient;
// Each group of tests has a server of its own: open documents lend each other context.
async function startServer() {
  client = await LspClient.start([], { maxTokens: 32 });
  await client.ready();
}

async function suggest(uri: string, line: number, character: number) {
  const items = itemsOf(await client.complete(uri, { line, character }));
  return { item: items[0], stats: await client.lastStats() };
}

describe('typing through a suggestion, through the server', () => {
  before(startServer);
  after(() => client.stop());
  test('an auto-closed bracket after the cursor: served from the cache, replacing the closer', async () => {
    const uri = 'file:///work/greet.py';
    client.open(uri, 'def greet(name):\n    print\n', 'python');
    const first = await suggest(uri, 1, 9);
    const call = String(first.item?.insertText);
    assert.match(call, /^\([^\n]*\)$/, 'a one-line call');
    // The editor inserts "()" for "(" with the cursor between.
    client.insert(uri, { line: 1, character: 9 }, '()');
    const next = await suggest(uri, 1, 10);
    assert.equal(next.stats.outcome, 'cached');
    assert.equal(next.item.insertText, call.slice(1));
    assert.deepEqual(next.item.range, { start: { line: 1, character: 10 }, end: { line: 1, character: 11 } });
    client.close(uri); // open documents lend context to each other's prompts
  });

  test('a cursor inside a would-be token: the server heals it, so the word is finished, not followed', async () => {
    // Unhealed (the same text as a plain prompt), the demo model starts another word instead:
    // "ians" after "rad", "User-path');" after "require('pa".
    for (const [name, languageId, text, expected] of [
      ['c.py', 'python', 'import math\n\n\ndef area(radius):\n    return math.pi * radius * rad\n', 'ius'],
      ['g.js', 'javascript', "const fs = require('fs');\nconst path = require('pa\n", "th');"],
    ]) {
      const uri = `file:///work/${name}`;
      client.open(uri, text, languageId);
      const lines = text.split('\n');
      const healed = await suggest(uri, lines.length - 2, lines[lines.length - 2].length);
      assert.equal(healed.item?.insertText, expected, name);
      client.close(uri);
    }
  });

  test('a CRLF file with a character outside the BMP: Enter typed as \\r\\n, UTF-16 positions', async () => {
    const uri = 'file:///work/point.py';
    const text = 'class Point:\r\n    def __add__(self, other):\r\n        x = self.x + other.x\r\n        ';
    client.open(uri, text, 'python');
    const first = await suggest(uri, 3, 8);
    const lines = first.item?.insertText.toString().split('\n') ?? [];
    assert.ok(lines.length >= 2, `a multi-line suggestion: ${JSON.stringify(first.item?.insertText)}`);
    const indent = /^\s*/.exec(lines[1])![0];
    client.insert(uri, { line: 3, character: 8 }, `${lines[0]}\r\n${indent}`);
    const next = await suggest(uri, 4, indent.length);
    assert.equal(next.stats.outcome, 'cached', 'the typed line matched the suggestion');
    assert.equal(next.item.insertText, lines.slice(1).join('\n').slice(indent.length));

    // A surrogate pair (two UTF-16 code units) typed at the cursor moves it by two; the
    // suggestion there, typed through by one character, still matches exactly.
    client.insert(uri, { line: 4, character: indent.length }, '😀 ');
    const emoji = await suggest(uri, 4, indent.length + 3);
    const shown = emoji.item?.insertText.toString() ?? '';
    assert.ok(shown.length > 0, 'a suggestion after the emoji');
    client.insert(uri, { line: 4, character: indent.length + 3 }, shown[0]);
    const typed = await suggest(uri, 4, indent.length + 4);
    assert.equal(typed.stats.outcome, 'cached');
    assert.equal(typed.item.insertText, shown.slice(1));
    client.close(uri);
  });

  test('an edit far from the cursor, or a settings change, is not answered from the cache', async () => {
    const uri = 'file:///work/far.py';
    const head = `# ${'notes '.repeat(100)}\n`;
    client.open(uri, `${head}import math\n\n\ndef circle_area(radius):\n    `, 'python');
    const first = await suggest(uri, 4, 4);
    assert.ok(first.item, 'a suggestion');
    assert.equal((await suggest(uri, 4, 4)).stats.outcome, 'cached', 'the same place again is cached');
    // More than 256 characters before the cursor: the prompt changed, so may the answer.
    client.replace(uri, { start: { line: 0, character: 0 }, end: { line: 0, character: 1 } }, '//');
    assert.notEqual((await suggest(uri, 4, 4)).stats.outcome, 'cached');
    assert.equal((await suggest(uri, 4, 4)).stats.outcome, 'cached');
    await client.connection.sendNotification(DidChangeConfigurationNotification.type, { settings: { tramontane: { maxTokens: 16 } } });
    assert.notEqual((await suggest(uri, 4, 4)).stats.outcome, 'cached', 'suggestions made under the old settings are dropped');
  });
});

describe('workspace context', () => {
  before(startServer);
  after(() => client.stop());

  test('a definition from the editor joins the prompt when the cursor changes line, not between keystrokes', async () => {
    const uri = 'file:///work/proj/main.py';
    const text = 'from billing import *\n\n\ndef checkout(cart):\n    total = compute_';
    client.open(uri, text, 'python');
    const first = await suggest(uri, 4, 20);
    await client.connection.sendNotification(ContextChunksNotification, {
      chunks: [{ uri: 'file:///work/proj/billing.py', languageId: 'python', text: 'def compute_invoice_total(line_items, tax_rate):\n    return sum(line_items) * (1 + tax_rate)\n', kind: 'definition' }],
    });
    // A keystroke on the same line: the prompt's head is kept.
    client.insert(uri, { line: 4, character: 20 }, 'i');
    const typed = await suggest(uri, 4, 21);
    if (typed.stats.outcome !== 'cached') {
      assert.ok(typed.stats.computedTokens! <= 8, `${typed.stats.computedTokens} tokens computed for one keystroke`);
      assert.ok(typed.stats.promptTokens! - first.stats.promptTokens! <= 2, 'no definition yet');
    }
    // The next line: the definition is in the prompt.
    client.insert(uri, { line: 4, character: 21 }, '\n    ');
    const next = await suggest(uri, 5, 4);
    assert.ok(next.stats.promptTokens! > first.stats.promptTokens! + 20, `${first.stats.promptTokens} → ${next.stats.promptTokens} prompt tokens`);
    client.close(uri);
  });
});

describe('files kept out of prompts', () => {
  before(startServer);
  after(() => client.stop());
  const main = 'file:///work/app/main.py';
  const mainText = 'import os\n\n\ndef load():\n    return ';
  async function promptTokens(): Promise<number> {
    client.open(main, mainText, 'python');
    const { stats } = await suggest(main, 4, 11);
    client.close(main);
    return stats.promptTokens!;
  }

  test('secrets and disabled languages lend no context; an allowed file does', async () => {
    const alone = await promptTokens();
    client.open('file:///work/app/.env', 'DATABASE_PASSWORD=hunter2\nAPI_KEY=sk-live-1234567890\n', 'dotenv');
    client.open('file:///work/app/.env.production', 'API_KEY=sk-prod\n', 'properties');
    client.open('file:///home/u/.ssh/id_rsa', '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n', 'plaintext');
    client.open('file:///work/app/server.pem', '-----BEGIN CERTIFICATE-----\nMIIB\n', 'plaintext');
    client.open('file:///work/app/tokens/deploy.txt', 'ghp_secret\n', 'python');
    client.open('file:///work/app/NOTES.md', '# Notes\n\nthe staging password is hunter2\n', 'markdown');
    await client.connection.sendNotification(DidChangeConfigurationNotification.type, {
      settings: { tramontane: { enabledLanguages: { '*': true, markdown: false }, contextExclude: ['**/tokens/**'] } },
    });
    assert.equal(await promptTokens(), alone, 'none of those files went into the prompt');

    client.open('file:///work/app/db.py', 'def connect(url):\n    return url\n', 'python');
    assert.ok((await promptTokens()) > alone, 'an ordinary source file does');
  });

  test('a secrets file gets no suggestion, and chat will not attach it', async () => {
    const env = 'file:///work/app/.env.local';
    client.open(env, 'API_KEY=', 'dotenv');
    const before = (await client.stats()).length;
    assert.deepEqual(itemsOf(await client.complete(env, { line: 0, character: 8 })), []);
    assert.equal((await client.stats()).length, before, 'the engine was not asked');
    await assert.rejects(
      client.chat({ messages: [{ role: 'user', content: 'What is this?' }], context: { uri: env } }),
      (e: unknown) => e instanceof ResponseError && e.code === ErrorCodes.InvalidParams && /kept out of prompts/.test(e.message),
    );
  });
});
