// The test runner (scripts/test.mjs) on a folder of its own: a file that hangs is stopped
// after the time limit together with what it started and run once more; one that does
// not end twice, or that fails an assertion once, fails the run by name.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';

const RUNNER = path.resolve('scripts/test.mjs');

/** Whether pid runs (a killed process that is not reaped yet does not). */
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

describe('test runner', { skip: process.platform !== 'linux' ? 'reads /proc' : undefined }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tramontane-runner-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('stops a file that hangs with what it started, runs it once more, and fails one that hangs twice', async () => {
    const pidFile = path.join(dir, 'sleeper.pid');
    const marker = path.join(dir, 'hung-once');
    fs.mkdirSync(path.join(dir, 'test'));
    const write = (name: string, body: string[]) =>
      fs.writeFileSync(path.join(dir, 'test', name), ["import { it } from 'node:test';", ...body].join('\n'));
    write('a-passes.test.ts', ["it('passes', () => undefined);"]);
    write('b-hangs-once.test.ts', [
      "import { spawn } from 'node:child_process';",
      "import fs from 'node:fs';",
      "it('hangs the first time only', async () => {",
      `  if (fs.existsSync(${JSON.stringify(marker)})) return;`,
      `  fs.writeFileSync(${JSON.stringify(marker)}, '');`,
      "  const sleeper = spawn('sleep', ['600'], { stdio: 'ignore' });",
      `  fs.writeFileSync(${JSON.stringify(pidFile)}, String(sleeper.pid));`,
      '  await new Promise(() => setInterval(() => undefined, 1000));',
      '});',
    ]);
    write('c-leaves-a-timer.test.ts', ["it('passes and leaves an interval running', () => { setInterval(() => undefined, 1000); });"]);
    write('d-fails.test.ts', ["import assert from 'node:assert/strict';", "it('fails', () => assert.equal(1, 2));"]);

    // Started as from a shell: without the variable that marks this process as a test file.
    const { NODE_TEST_CONTEXT: _, ...env } = process.env;
    const started = Date.now();
    const child = spawn(process.execPath, [RUNNER], {
      cwd: dir,
      env: { ...env, TRAMONTANE_TEST_FILE_LIMIT_MS: '3000' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (data: Buffer) => (stdout += data.toString()));
    child.stderr.on('data', (data: Buffer) => (stderr += data.toString()));
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      child.on('close', (exitCode) => {
        clearTimeout(timer);
        resolve(exitCode);
      });
    });
    const seconds = (Date.now() - started) / 1000;

    assert.equal(code, 1, `the run fails\n${stdout}\n${stderr}`);
    assert.ok(seconds < 40, `the run ended after ${seconds} s`);
    assert.match(stdout, /# test\/a-passes\.test\.ts: passed/);
    assert.match(stdout, /# test\/b-hangs-once\.test\.ts: did not end within 3 s; stopped\n/);
    assert.match(stdout, /# test\/b-hangs-once\.test\.ts: passed \([0-9.]+ s\) on its second run, after a time out/);
    assert.equal(stdout.match(/# test\/c-leaves-a-timer\.test\.ts: did not end within 3 s; stopped/g)?.length, 2);
    assert.equal(stdout.match(/# file: test\/d-fails\.test\.ts/g)?.length, 1, 'a failed assertion is not run again');
    assert.match(stdout, /# 3 tests, 2 passed, 1 failed, in 4 files/);
    assert.match(stderr, /2 of 4 test files failed:\n {2}test\/c-leaves-a-timer\.test\.ts \(timed out twice\)\n {2}test\/d-fails\.test\.ts\n/);
    const sleeper = Number(fs.readFileSync(pidFile, 'utf8'));
    const deadline = Date.now() + 2000; // a signal takes effect soon after, not at once
    while (running(sleeper) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(running(sleeper), false, 'the process the hanging file started is gone');
  });
});
