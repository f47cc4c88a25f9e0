// A short soak through the real server on the demo model (the full run is `tramontane
// bench soak`): rapid typing over ten documents with a chat running. The server stays
// up, no text arrives for a superseded request, every request ends cleanly, and its
// memory stays within a bound after warm-up.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { soak, sourceFiles } from '../../server/bench/soak';
import { ROOT } from '../helpers/tokenizers';

const RSS_BOUND_MIB = 32;

test('300 rapid keystrokes over 10 documents with a concurrent chat', async () => {
  const report = await soak({
    serverCommand: [process.execPath, path.join(ROOT, 'bin', 'tramontane.js')],
    serverArgs: ['--backend', 'cpu'],
    files: sourceFiles(path.join(ROOT, 'server'), 10),
    keystrokes: 300,
    intervalMs: 30,
    pauseMs: 500,
    warmupShare: 0.5,
    chat: true,
    settings: { maxTokens: 32 },
    seed: 7,
  });
  assert.ok(report.alive, 'the server is up and answering at the end');
  assert.equal(report.keystrokes, 300);
  assert.equal(report.lateTexts, 0, 'no text for a superseded request');
  assert.deepEqual(report.errors, []);
  assert.deepEqual(report.chatErrors, []);
  assert.ok(report.chats >= 1, 'the chat answered while typing went on');
  assert.ok(report.texts >= 1, 'suggestions streamed (so the check above had texts to check)');
  assert.equal(report.answered + report.dropped, 300, 'every request ended');
  assert.ok(report.rssSamples.length > 10);
  assert.ok(report.rssMiB.growth <= RSS_BOUND_MIB, `RSS grew ${report.rssMiB.growth.toFixed(1)} MiB after warm-up`);
});
