// The extension's side of the protocol against the real server: a `tramontane serve
// --stdio` process on a tiny model (random weights, Mistral's v3 vocabulary), driven
// through the same adapters and controller the extension uses inside VS Code.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { CancellationTokenSource } from 'vscode-languageserver-protocol/node';
import { LspChatBackend } from '../../extension/chat/lspChat';
import { InlineCompletionController, type DocumentState } from '../../extension/completion/controller';
import { LspCompletionBackend, type RequestSender } from '../../extension/completion/lspBackend';
import type { SuggestionRequest } from '../../extension/completion/stream';
import { LspClient, positionAt } from '../helpers/lsp-client';
import { SMALL, writeTinyModel } from '../helpers/tiny-model';
import { tokenizerPath } from '../helpers/tokenizers';

// An EOS this model never picks, so every suggestion runs until the server stops it.
const TINY = { ...SMALL, vocab: 32768, eos: 32767 };
const URI = 'file:///work/shapes.py';
const TEXT = 'import math\n\n\ndef circle_area(radius):\n    return math.pi * radius ** 2\n\n\ndef square_area(side):\n    ';

function state(text: string, offset = text.length, explicit = false): DocumentState {
  const { line, character } = positionAt(text, offset);
  return { uri: URI, text, offset, line, character, explicit };
}

function request(text: string, offset = text.length, uri = URI): SuggestionRequest {
  const { line, character } = positionAt(text, offset);
  const before = text.slice(0, offset);
  return { uri, line, character, linePrefix: before.slice(before.lastIndexOf('\n') + 1), explicit: false };
}

describe('extension ↔ server', () => {
  let client: LspClient;
  let modelDir: string;
  let sender: RequestSender;

  before(async () => {
    modelDir = writeTinyModel(TINY, 11, { tokenizerFrom: tokenizerPath('v3', 'tokenizer.json') });
    client = await LspClient.start(['--model', modelDir], { maxTokens: 32, maxLines: 4, chatMaxTokens: 40 });
    await client.ready();
    client.open(URI, TEXT, 'python');
    sender = client.connection as unknown as RequestSender;
  });

  after(async () => {
    await client?.stop();
    if (modelDir) fs.rmSync(modelDir, { recursive: true, force: true });
  });

  it('streams snapshots of a suggestion, then its final text', async () => {
    const backend = new LspCompletionBackend(() => sender);
    const snapshots: string[] = [];
    const final = await backend.complete(request(TEXT), (text) => snapshots.push(text), new CancellationTokenSource().token);
    assert.equal(typeof final, 'string');
    assert.ok(snapshots.length >= 2, `partial results arrived while generating: ${snapshots.length}`);
    const stats = await client.lastStats();
    assert.ok(stats.generatedTokens > 1);
    assert.equal(final!.length, stats.suggestionChars, 'the final text is what the server returned');
  });

  it('cancels on the server when the stream is cancelled', async () => {
    // A server of its own with a long token limit: the tiny model can reach 32 tokens
    // before a cancellation crosses a loaded machine (seen in CI), and then nothing was
    // left to stop.
    const limit = 1024;
    const own = await LspClient.start(['--model', modelDir], { maxTokens: limit, maxLines: 1000 });
    try {
      await own.ready();
      const backend = new LspCompletionBackend(() => own.connection as unknown as RequestSender);
      const uri = 'file:///work/cancel.py';
      own.open(uri, TEXT, 'python');
      const source = new CancellationTokenSource();
      const pending = backend.complete(request(TEXT, TEXT.length, uri), () => source.cancel(), source.token);
      await assert.rejects(pending);
      // The server records the request once it has wound it down.
      let last = await own.lastStats();
      for (let i = 0; i < 50 && last.outcome !== 'cancelled'; i++) {
        await new Promise((r) => setTimeout(r, 20));
        last = await own.lastStats();
      }
      assert.equal(last.outcome, 'cancelled');
      assert.ok(last.generatedTokens < limit, `stopped early: ${last.generatedTokens} tokens`);
    } finally {
      await own.stop();
    }
  });

  it('serves typing through a suggestion without another server request', async () => {
    const controller = new InlineCompletionController(new LspCompletionBackend(() => sender), {
      debounceMs: () => 0,
      orphanGraceMs: 500,
      refreshMs: 0,
      refresh: () => undefined,
    });
    try {
      const first = await controller.provide(state(TEXT), new CancellationTokenSource().token);
      const before = (await client.stats()).length;
      // Wait for the stream to finish so the stats count is stable.
      for (let i = 0; i < 100; i++) {
        const again = await controller.provide(state(TEXT, TEXT.length, true), new CancellationTokenSource().token);
        if (again.text === first.text || !again.text) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      const shown = (await controller.provide(state(TEXT), new CancellationTokenSource().token)).text;
      assert.ok(shown.length > 1, `a suggestion to type through: ${JSON.stringify(shown)}`);
      // Type its first character into the document, as the user would.
      const typed = shown[0];
      client.insert(URI, positionAt(TEXT, TEXT.length), typed);
      const through = await controller.provide(state(TEXT + typed), new CancellationTokenSource().token);
      assert.deepEqual(through, { text: shown.slice(1), outcome: 'typed-through' });
      assert.equal((await client.stats()).length, before, 'no new completion request reached the server');
      client.replace(URI, { start: positionAt(TEXT + typed, TEXT.length), end: positionAt(TEXT + typed, TEXT.length + 1) }, '');
    } finally {
      controller.dispose();
    }
  });

  it('streams a chat answer whose deltas add up to the final text', async () => {
    const chat = new LspChatBackend(() => sender);
    let streamed = '';
    let deltas = 0;
    const result = await chat.chat(
      { messages: [{ role: 'user', content: 'What does circle_area return?' }], context: { uri: URI, languageId: 'python' } },
      (delta) => {
        streamed += delta;
        deltas++;
      },
      new CancellationTokenSource().token,
    );
    assert.ok(deltas >= 2, `streamed in pieces: ${deltas}`);
    assert.equal(streamed, result.text);
    assert.ok(result.generatedTokens > 0);
  });

  it('streams an explanation of a range', async () => {
    const chat = new LspChatBackend(() => sender);
    let streamed = '';
    const result = await chat.explain(
      { uri: URI, range: { start: { line: 3, character: 0 }, end: { line: 5, character: 0 } } },
      (delta) => (streamed += delta),
      new CancellationTokenSource().token,
    );
    assert.equal(streamed, result.text);
    assert.ok(result.text.length > 0);
  });

  it('stops a chat answer when asked', async () => {
    const chat = new LspChatBackend(() => sender);
    const source = new CancellationTokenSource();
    let streamed = '';
    const outcome = await chat
      .chat({ messages: [{ role: 'user', content: 'Tell me everything.' }] }, (delta) => {
        streamed += delta;
        source.cancel();
      }, source.token)
      .then(
        (result) => result.finish,
        () => 'rejected',
      );
    assert.ok(outcome === 'cancelled' || outcome === 'rejected', `stopped: ${outcome}`);
    assert.ok(streamed.length > 0);
  });

  it('says the server is not running when there is no client', async () => {
    const chat = new LspChatBackend(() => undefined);
    await assert.rejects(chat.chat({ messages: [] }, () => undefined, new CancellationTokenSource().token), /not running/);
    const completions = new LspCompletionBackend(() => undefined);
    assert.equal(await completions.complete(request(TEXT), () => undefined, new CancellationTokenSource().token), undefined);
  });
});
