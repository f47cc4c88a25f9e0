// The engine queue: completions first, background steps preempted and resumed.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { EngineQueue } from '../../server/backends/engine-queue';
import { mergeSettings } from '../../server/lsp/settings';
import { DEFAULT_SETTINGS } from '../../server/protocol';

const tick = () => new Promise((r) => setTimeout(r, 1));

describe('engine queue', () => {
  test('urgent work preempts a running background step and runs before the next one', async () => {
    const queue = new EngineQueue();
    const log: string[] = [];
    let steps = 0;
    // A background job of 5 steps; a step runs until preempted or 20 ticks pass.
    const background = (async () => {
      while (steps < 5) {
        await queue.background(async (preempt) => {
          log.push(`step ${steps} start`);
          for (let i = 0; i < 20 && !preempt.aborted; i++) await tick();
          log.push(`step ${steps} ${preempt.aborted ? 'preempted' : 'done'}`);
          steps++;
        });
      }
    })();
    while (log.length === 0) await tick();
    let running = false;
    const urgent = queue.urgent(async () => {
      running = true;
      log.push('urgent');
      await tick();
      running = false;
    });
    await urgent;
    await background;
    assert.equal(running, false);
    assert.deepEqual(log.slice(0, 3), ['step 0 start', 'step 0 preempted', 'urgent']);
    assert.ok(log.includes('step 4 done'));
  });

  test('one task at a time, urgent ones in the order they came', async () => {
    const queue = new EngineQueue();
    let active = 0;
    let most = 0;
    const order: number[] = [];
    await Promise.all(
      [0, 1, 2, 3].map((i) =>
        queue.urgent(async () => {
          most = Math.max(most, ++active);
          order.push(i);
          await tick();
          active--;
        }),
      ),
    );
    assert.equal(most, 1);
    assert.deepEqual(order, [0, 1, 2, 3]);
  });
});

describe('settings', () => {
  test('valid values merge; invalid ones are one clear error; unknown keys are ignored', () => {
    const merged = mergeSettings(DEFAULT_SETTINGS, { maxTokens: 40, fimTemplate: 'prefix-only', ...({ futureSetting: 1 } as object) });
    assert.equal(merged.maxTokens, 40);
    assert.equal(merged.fimTemplate, 'prefix-only');
    assert.equal(merged.contextTokens, DEFAULT_SETTINGS.contextTokens);
    assert.throws(() => mergeSettings(DEFAULT_SETTINGS, { maxTokens: 0 }), /^Error: setting maxTokens must be an integer from 1 to 4096, not 0$/);
    assert.throws(() => mergeSettings(DEFAULT_SETTINGS, { fimTemplate: 'gpt' as never }), /setting fimTemplate must be one of auto, prefix-only/);
    assert.throws(() => mergeSettings(DEFAULT_SETTINGS, { suffixShare: 2 }), /suffixShare/);
  });
});
