// The on/off switch, the snooze and per-language settings decide whether ghost text is offered.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CompletionGate } from '../../extension/completion/gate';
import { readSettings } from '../../extension/settings';
import { MemoryStore } from '../helpers/memento';

describe('completion gate', () => {
  const settings = readSettings((key) => (key === 'completion.enabledLanguages' ? { python: false } : undefined));

  it('is on by default, except for languages turned off', () => {
    const gate = new CompletionGate(new MemoryStore(), () => settings);
    assert.equal(gate.allows('typescript'), true);
    assert.equal(gate.allows('python'), false);
    assert.equal(gate.allows('markdown'), false);
  });

  it('remembers being turned off across sessions', async () => {
    const store = new MemoryStore();
    await new CompletionGate(store, () => settings).setEnabled(false);
    const gate = new CompletionGate(store, () => settings);
    assert.deepEqual(gate.state(), { kind: 'off' });
    assert.equal(gate.allows('typescript'), false);
    assert.equal(await gate.toggle(), true);
    assert.equal(gate.allows('typescript'), true);
  });

  it('snoozes until the time runs out', async () => {
    let now = 1_000_000;
    const gate = new CompletionGate(new MemoryStore(), () => settings, () => now);
    const changes: string[] = [];
    gate.onChange(() => changes.push(gate.state().kind));
    gate.snooze(5);
    assert.deepEqual(gate.state(), { kind: 'snoozed', until: now + 5 * 60_000 });
    assert.equal(gate.allows('typescript'), false);
    now += 5 * 60_000;
    assert.equal(gate.allows('typescript'), true);
    assert.deepEqual(changes, ['snoozed']);
    gate.dispose();
  });

  it('turning on again ends a snooze; toggling while snoozed turns on', async () => {
    const gate = new CompletionGate(new MemoryStore(), () => settings);
    gate.snooze(60);
    assert.equal(await gate.toggle(), true);
    assert.deepEqual(gate.state(), { kind: 'on' });
    gate.dispose();
  });
});
