// The chat panel's queue while it has never been opened: bounded, latest values kept.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PendingMessages } from '../../extension/chat/pending';

describe('messages for a panel not shown yet', () => {
  it('keeps one message per kind however many selection changes come', () => {
    const queue = new PendingMessages();
    queue.put({ type: 'status', text: 'Loading the model…', ready: false });
    for (let i = 0; i < 100_000; i++) queue.put({ type: 'context', label: `selection a.py:${i}` });
    queue.put({ type: 'busy', busy: false });
    queue.put({ type: 'status', text: 'demo model · CPU', ready: true });
    assert.equal(queue.size, 3);
    assert.deepEqual(queue.drain(), [
      { type: 'context', label: 'selection a.py:99999' },
      { type: 'busy', busy: false },
      { type: 'status', text: 'demo model · CPU', ready: true },
    ]);
    assert.equal(queue.size, 0);
  });
});
