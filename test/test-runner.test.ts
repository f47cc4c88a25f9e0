// The test runner (scripts/test.mjs) on folders of its own: a file that hangs is stopped
// after the time limit together with what it started and run once more; one that does
// not end twice, or that fails an assertion once, fails the run by name; Ctrl-C stops the
// file that is running and what it started.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
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

async function gone(pid: number): Promise<boolean> {
  const deadline = Date.now() + 2000; // a signal takes effect soon after, not at once
  while (running(pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  return !running(pid);
}

/** Writes test/NAME into dir, a test file of the given lines. */
function writeTest(dir: string, name: string, body: string[]): void {
  fs.mkdirSync(path.join(dir, 'test'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'test', name), ["import { it } from 'node:test';", ...body].join('\n'));
}

/** A test body that starts `sleep`, writes its pid to pidFile, and never ends. */
function hangWithSleeper(pidFile: string): string[] {
  return [
    "  const sleeper = spawn('sleep', ['600'], { stdio: 'ignore' });",
    `  fs.writeFileSync(${JSON.stringify(pidFile)}, String(sleeper.pid));`,
    '  await new Promise(() => setInterval(() => undefined, 1000));',
  ];
}

/** Starts the runner in dir as from a shell (without the variable that marks a test file). */
function startRunner(dir: string, limitMs: number): { child: ChildProcess; result: Promise<{ code: number | null; stdout: string; stderr: string }> } {
  const { NODE_TEST_CONTEXT: _, ...env } = process.env;
  const child = spawn(process.execPath, [RUNNER], {
    cwd: dir,
    env: { ...env, TRAMONTANE_TEST_FILE_LIMIT_MS: String(limitMs) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (data: Buffer) => (stdout += data.toString()));
  child.stderr!.on('data', (data: Buffer) => (stderr += data.toString()));
  const result = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const done = () => {
      clearTimeout(timer);
      resolve({ code: child.exitCode, stdout, stderr });
    };
    child.on('close', done);
    // Processes the runner left behind may hold its pipes open: then its exit has to do.
    child.on('exit', () => setTimeout(done, 2000));
  });
  return { child, result };
}

describe('test runner', { skip: process.platform !== 'linux' ? 'reads /proc' : undefined }, () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tramontane-runner-'));
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  it('stops a file that hangs with what it started, runs it once more, and fails one that hangs twice', async () => {
    const dir = path.join(root, 'limit');
    const pidFile = path.join(dir, 'sleeper.pid');
    const marker = path.join(dir, 'hung-once');
    writeTest(dir, 'a-passes.test.ts', ["it('passes', () => undefined);"]);
    writeTest(dir, 'b-hangs-once.test.ts', [
      "import { spawn } from 'node:child_process';",
      "import fs from 'node:fs';",
      "it('runs first', () => undefined);",
      "it('hangs the first time only', async () => {",
      `  if (fs.existsSync(${JSON.stringify(marker)})) return;`,
      `  fs.writeFileSync(${JSON.stringify(marker)}, '');`,
      ...hangWithSleeper(pidFile),
      '});',
    ]);
    writeTest(dir, 'c-leaves-a-timer.test.ts', ["it('passes and leaves an interval running', () => { setInterval(() => undefined, 1000); });"]);
    writeTest(dir, 'd-fails.test.ts', ["import assert from 'node:assert/strict';", "it('fails', () => assert.equal(1, 2));"]);

    const started = Date.now();
    const { code, stdout, stderr } = await startRunner(dir, 5000).result;
    const seconds = (Date.now() - started) / 1000;

    assert.equal(code, 1, `the run fails\n${stdout}\n${stderr}`);
    assert.ok(seconds < 40, `the run ended after ${seconds} s`);
    assert.match(stdout, /# test\/a-passes\.test\.ts: passed/);
    assert.match(stdout, /# test\/b-hangs-once\.test\.ts: did not end within 5 s \(after "runs first"\); stopped\n/);
    assert.match(stdout, /# test\/b-hangs-once\.test\.ts: passed \([0-9.]+ s\) on its second run, after a time out/);
    const lingered = /# test\/c-leaves-a-timer\.test\.ts: did not end within 5 s \(after "passes and leaves an interval running"\); stopped/g;
    assert.equal(stdout.match(lingered)?.length, 2);
    assert.equal(stdout.match(/# file: test\/d-fails\.test\.ts/g)?.length, 1, 'a failed assertion is not run again');
    assert.match(stdout, /# 4 tests, 3 passed, 1 failed, in 4 files/);
    assert.match(stderr, /2 of 4 test files failed:\n {2}test\/c-leaves-a-timer\.test\.ts \(timed out twice\)\n {2}test\/d-fails\.test\.ts\n/);
    assert.ok(await gone(Number(fs.readFileSync(pidFile, 'utf8'))), 'the process the hanging file started is gone');
  });

  it('stops the running file and what it started on Ctrl-C', async () => {
    const dir = path.join(root, 'interrupt');
    const pidFile = path.join(dir, 'sleeper.pid');
    writeTest(dir, 'hangs.test.ts', [
      "import { spawn } from 'node:child_process';",
      "import fs from 'node:fs';",
      "it('never ends', async () => {",
      ...hangWithSleeper(pidFile),
      '});',
    ]);
    const { child, result } = startRunner(dir, 60_000);
    const deadline = Date.now() + 20_000;
    while (!fs.existsSync(pidFile) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    const sleeper = Number(fs.readFileSync(pidFile, 'utf8'));
    child.kill('SIGINT');
    const { code } = await result;
    assert.equal(code, 130);
    assert.ok(await gone(sleeper), 'the process the running file started is gone');
  });
});
