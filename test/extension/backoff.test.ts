// Restarting a dead server: at once, then slower, then not at all in a crash loop.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RestartPolicy, type BackoffOptions } from '../../extension/sidecar/backoff';

const options: BackoffOptions = { initialMs: 500, maxMs: 4000, maxCrashes: 5, windowMs: 60_000, healthyMs: 30_000 };

describe('restart policy', () => {
  it('restarts at once, then with doubling delays up to the cap', () => {
    const policy = new RestartPolicy(options);
    const delays: number[] = [];
    let now = 1000;
    for (let i = 0; i < 5; i++) {
      policy.started(now);
      now += 100;
      const d = policy.died(now);
      assert.equal(d.restart, true);
      if (d.restart) delays.push(d.delayMs);
    }
    assert.deepEqual(delays, [0, 500, 1000, 2000, 4000]);
  });

  it('stops restarting after too many deaths in the window', () => {
    const policy = new RestartPolicy(options);
    let now = 0;
    for (let i = 0; i < 5; i++) {
      policy.started(now);
      assert.equal(policy.died(now + 10).restart, true);
      now += 1000;
    }
    policy.started(now);
    const last = policy.died(now + 10);
    assert.deepEqual(last, { restart: false, crashes: 6 });
  });

  it('forgets deaths older than the window', () => {
    const policy = new RestartPolicy(options);
    for (let i = 0; i < 5; i++) policy.died(i * 100);
    const d = policy.died(61_000);
    assert.equal(d.restart, true);
  });

  it('forgives past crashes once a server has stayed up for a while', () => {
    const policy = new RestartPolicy(options);
    policy.started(0);
    policy.died(10);
    policy.started(20);
    policy.died(30);
    policy.started(100);
    const d = policy.died(100 + 30_000);
    assert.deepEqual(d, { restart: true, delayMs: 0, attempt: 1 });
  });

  it('starts from scratch after a restart the user asked for', () => {
    const policy = new RestartPolicy(options);
    for (let i = 0; i < 6; i++) policy.died(i);
    assert.equal(policy.died(7).restart, false);
    policy.reset();
    assert.deepEqual(policy.died(8), { restart: true, delayMs: 0, attempt: 1 });
  });
});
