// Chat history: kept per workspace, bounded, and turned into alternating turns for the
// server with earlier attachments inlined.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ChatHistory, MAX_ATTACHMENT_CHARS, MAX_MESSAGES } from '../../extension/chat/history';
import { MemoryStore } from '../helpers/memento';

describe('chat history', () => {
  it('survives a reload from the same store (a new window on the workspace)', async () => {
    const store = new MemoryStore();
    const history = new ChatHistory(store);
    await history.add({ id: 'q1', role: 'user', content: 'What does f do?' });
    await history.add({ id: 'a1', role: 'assistant', content: '' });
    await history.finish('a1', 'It adds.', undefined);
    const reloaded = new ChatHistory(store);
    assert.deepEqual(reloaded.view(), [
      { id: 'q1', role: 'user', content: 'What does f do?', contextLabel: undefined, note: undefined },
      { id: 'a1', role: 'assistant', content: 'It adds.', contextLabel: undefined, note: undefined },
    ]);
  });

  it('ignores malformed stored entries', () => {
    const store = new MemoryStore();
    void store.update('tramontane.chat.history', [{ id: 'x', role: 'system', content: 'hi' }, { id: 'y', role: 'user', content: 'ok' }, null]);
    assert.deepEqual(new ChatHistory(store).all.map((m) => m.id), ['y']);
  });

  it('keeps the newest messages only', async () => {
    const history = new ChatHistory(new MemoryStore());
    for (let i = 0; i < MAX_MESSAGES + 7; i++) await history.add({ id: String(i), role: i % 2 ? 'assistant' : 'user', content: `m${i}` });
    assert.equal(history.all.length, MAX_MESSAGES);
    assert.equal(history.all[history.all.length - 1].id, String(MAX_MESSAGES + 6));
  });

  it('clips long attachments', async () => {
    const history = new ChatHistory(new MemoryStore());
    await history.add({ id: 'q', role: 'user', content: 'explain', attachment: { label: 'big.ts', code: 'x'.repeat(MAX_ATTACHMENT_CHARS * 2) } });
    assert.equal(history.all[0].attachment?.code.length, MAX_ATTACHMENT_CHARS);
  });

  it('clears', async () => {
    const store = new MemoryStore();
    const history = new ChatHistory(store);
    await history.add({ id: 'q', role: 'user', content: 'hi' });
    await history.clear();
    assert.deepEqual(new ChatHistory(store).all, []);
  });

  it('sends earlier attachments inline and leaves the newest question as typed', async () => {
    const history = new ChatHistory(new MemoryStore());
    await history.add({ id: 'q1', role: 'user', content: 'Explain this code.', attachment: { label: 'a.py:1-2', languageId: 'python', code: 'def f():\n    return 1' } });
    await history.add({ id: 'a1', role: 'assistant', content: 'f returns 1.' });
    await history.add({ id: 'q2', role: 'user', content: 'Make it return 2.', attachment: { label: 'a.py', code: 'whole file' } });
    assert.deepEqual(history.requestMessages('q2'), [
      { role: 'user', content: 'Explain this code.\n\na.py:1-2:\n```python\ndef f():\n    return 1\n```' },
      { role: 'assistant', content: 'f returns 1.' },
      { role: 'user', content: 'Make it return 2.' },
    ]);
  });

  it('uses a longer fence when the code holds one', async () => {
    const history = new ChatHistory(new MemoryStore());
    await history.add({ id: 'q1', role: 'user', content: 'Q', attachment: { label: 'R.md', code: '```js\nx\n```' } });
    await history.add({ id: 'a1', role: 'assistant', content: 'A' });
    await history.add({ id: 'q2', role: 'user', content: 'Q2' });
    assert.match(history.requestMessages('q2')[0].content, /````\n```js\nx\n```\n````$/);
  });

  it('drops unanswered questions so turns alternate', async () => {
    const history = new ChatHistory(new MemoryStore());
    await history.add({ id: 'q1', role: 'user', content: 'first' });
    await history.add({ id: 'a1', role: 'assistant', content: '' }); // stopped before any text
    await history.add({ id: 'q2', role: 'user', content: 'second' });
    await history.add({ id: 'a2', role: 'assistant', content: 'answer' });
    await history.add({ id: 'q3', role: 'user', content: 'third' });
    const roles = history.requestMessages('q3').map((m) => `${m.role}:${m.content}`);
    assert.deepEqual(roles, ['user:second', 'assistant:answer', 'user:third']);
  });

  it('ends at the given question even when answers follow it', async () => {
    const history = new ChatHistory(new MemoryStore());
    await history.add({ id: 'q1', role: 'user', content: 'one' });
    await history.add({ id: 'a1', role: 'assistant', content: 'uno' });
    assert.deepEqual(history.requestMessages('q1'), [{ role: 'user', content: 'one' }]);
  });
});
