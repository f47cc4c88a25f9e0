// Speculative decoding through the real server on the demo model: completions report
// their forward passes and the drafts verified and kept in tramontane/stats.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { LspClient, positionAt } from '../helpers/lsp-client';

// Code that repeats itself, cut where the last body begins: the demo model, greedy,
// writes "2 * math.pi * radius ** 2", most of it drafted from the lines above.
const SOURCE = [
  'import math',
  '',
  '',
  'def area_of_circle(radius):',
  '    return math.pi * radius ** 2',
  '',
  '',
  'def circumference_of_circle(radius):',
  '    return 2 * math.pi * radius',
  '',
  '',
  'def area_of_sphere(radius):',
  '    return 4 * math.pi * radius ** 2',
  '',
  '',
  'def volume_of_sphere(radius):',
  '    return ',
].join('\n');

let client: LspClient;
before(async () => {
  client = await LspClient.start(['--backend', 'cpu'], { fimTemplate: 'prefix-only', maxTokens: 48, maxLines: 12 });
  await client.ready();
});
after(() => client.stop());

test('a completion reports its steps, drafted and accepted tokens', async () => {
  const uri = 'file:///work/shapes.py';
  client.open(uri, SOURCE, 'python');
  await client.complete(uri, positionAt(SOURCE, SOURCE.length));
  const stats = await client.lastStats();
  assert.notEqual(stats.outcome, 'error');
  assert.ok(stats.generatedTokens > 0);
  assert.equal(typeof stats.steps, 'number');
  assert.equal(typeof stats.draftedTokens, 'number');
  // Every generated token cost a forward pass of its own, unless it was an accepted draft.
  assert.equal(stats.steps! + stats.acceptedTokens!, stats.generatedTokens);
  assert.ok(stats.acceptedTokens! <= stats.draftedTokens!);
  assert.ok(stats.acceptedTokens! > 0, `accepted ${stats.acceptedTokens} of ${stats.draftedTokens} drafts`);
});
