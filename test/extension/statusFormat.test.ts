// The status bar's text: state, backend and model, and the last completion's figures
// from tramontane/stats.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CompletionStats, ModelStatus } from '../../server/protocol';
import { lastCompletion, modelName, statusView, type StatusInput } from '../../extension/status/format';

const ready: ModelStatus = { state: 'ready', backend: 'cuda', model: '/models/Mistral-7B-v0.1/' };

function stats(partial: Partial<CompletionStats>): CompletionStats {
  return { id: 1, uri: 'file:///a', position: { line: 0, character: 0 }, at: 0, outcome: 'complete', generatedTokens: 0, totalMs: 0, suggestionChars: 0, ...partial };
}

const input = (over: Partial<StatusInput>): StatusInput => ({
  sidecar: { kind: 'ready', status: ready },
  gate: { kind: 'on' },
  embedded: false,
  generating: false,
  now: 0,
  ...over,
});

describe('status bar text', () => {
  it('shows backend and model when ready', () => {
    assert.equal(statusView(input({})).text, '$(sparkle) CUDA · Mistral-7B-v0.1');
  });

  it('names the model a remote server runs, and where', () => {
    const remote: ModelStatus = { state: 'ready', backend: 'remote', model: 'http://gpu-box:8000/v1', remoteModel: 'mistralai/Codestral-22B-v0.1' };
    assert.equal(statusView(input({ sidecar: { kind: 'ready', status: remote } })).text, '$(sparkle) remote · Codestral-22B-v0.1 @ gpu-box:8000');
  });

  it('calls the embedded model the demo model', () => {
    const view = statusView(input({ embedded: true, sidecar: { kind: 'ready', status: { ...ready, backend: 'cpu', model: '/ext/models/default' } } }));
    assert.equal(view.text, '$(sparkle) CPU · demo model');
  });

  it('shows the last completion: time to first token and decode speed', () => {
    const last = lastCompletion([
      stats({ id: 3, outcome: 'cached', timeToFirstTokenMs: 0, totalMs: 0 }),
      stats({ id: 2, timeToFirstTokenMs: 12.4, totalMs: 212.4, generatedTokens: 21, reusedTokens: 990, computedTokens: 3 }),
      stats({ id: 1, timeToFirstTokenMs: 80, totalMs: 90, generatedTokens: 2 }),
    ]);
    assert.deepEqual(last, { timeToFirstTokenMs: 12.4, tokensPerSecond: 100, reusedTokens: 990, computedTokens: 3 });
    const view = statusView(input({ last }));
    assert.equal(view.text, '$(sparkle) CUDA · Mistral-7B-v0.1 · 12 ms · 100 tok/s');
    assert.match(view.tooltip, /3 prompt tokens computed, 990 reused/);
  });

  it('has no figures before an engine-served completion', () => {
    assert.equal(lastCompletion([stats({ outcome: 'cancelled', timeToFirstTokenMs: 5 }), stats({ outcome: 'superseded' })]), undefined);
    assert.deepEqual(lastCompletion([stats({ timeToFirstTokenMs: 5, totalMs: 5, generatedTokens: 1 })]), {
      timeToFirstTokenMs: 5,
      tokensPerSecond: undefined,
      reusedTokens: undefined,
      computedTokens: undefined,
    });
  });

  it('spins while generating', () => {
    assert.match(statusView(input({ generating: true })).text, /^\$\(loading~spin\) CUDA/);
  });

  it('shows load progress', () => {
    assert.equal(statusView(input({ sidecar: { kind: 'loading', progress: 0.424 } })).text, '$(loading~spin) Tramontane: loading 42%');
  });

  it('flags errors with the reason in the tooltip', () => {
    const view = statusView(input({ sidecar: { kind: 'error', message: 'no config.json in /x' } }));
    assert.equal(view.severity, 'error');
    assert.match(view.tooltip, /no config\.json in \/x/);
  });

  it('says when completions are off or snoozed', () => {
    assert.match(statusView(input({ gate: { kind: 'off' } })).text, /^\$\(circle-slash\) CUDA/);
    assert.match(statusView(input({ gate: { kind: 'snoozed', until: 14 * 60_000 + 1 }, now: 0 })).text, /snoozed 15m$/);
  });

  it('names a model by its folder', () => {
    assert.equal(modelName('/a/b/codestral-22b', false), 'codestral-22b');
    assert.equal(modelName('C:\\models\\mistral\\', false), 'mistral');
    assert.equal(modelName('http://gpu:8000/v1', false), 'gpu:8000');
  });
});
