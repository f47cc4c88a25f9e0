// Token healing through `tramontane serve --http` on the embedded demo model: a
// fill-in-the-middle request (`suffix`) is code completion at a cursor and is healed as
// the editor's completions are; a plain prompt is continued as it is, as OpenAI's API does.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { after, before, test } from 'node:test';
import { postJson, serveHttp } from '../helpers/cli';

const TOKEN = 'healing-test-token';
let server: ChildProcess;
let base: string;

before(async () => {
  ({ base, process: server } = await serveHttp(['--backend', 'cpu', '--token', TOKEN]));
});
after(() => server.kill());

async function complete(body: Record<string, unknown>): Promise<string> {
  const response = await postJson(base, TOKEN, '/v1/completions', { max_tokens: 8, temperature: 0, stop: ['\n'], ...body });
  return (await response.json()).choices[0].text;
}

const PROMPT = 'import math\n\n\ndef area(radius):\n    return math.pi * radius * rad';

test('a request with a suffix is healed: the word at the cursor is finished', async () => {
  assert.equal(await complete({ prompt: PROMPT, suffix: '\n' }), 'ius');
});

test('a plain prompt is continued as it is', async () => {
  // After the whole token "rad" the demo model starts another: "ian" (healed, "ius").
  assert.equal(await complete({ prompt: PROMPT }), 'ian');
});
