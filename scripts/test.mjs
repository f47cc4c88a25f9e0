// Runs every test/**/*.test.ts with Node's test runner (TypeScript through tsx), one file
// at a time, each in its own process group under a time limit. A file that has not ended
// within FILE_LIMIT_MS (a test that hangs, or a handle left open that keeps its process
// alive) is stopped with everything it started and run once more; a second time out fails
// it by name. Failed assertions are never run again. Node 20's runner does not expand globs.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

// The slowest file takes under a minute on 2 cores (reference-logits, 47 s); CI allows 90.
const FILE_LIMIT_MS = Number(process.env.TRAMONTANE_TEST_FILE_LIMIT_MS ?? 5 * 60_000);

function findTests(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'fixtures' ? [] : findTests(full);
    return entry.name.endsWith('.test.ts') ? [full] : [];
  });
}

// tsx from this checkout, whatever the working directory.
const TSX = import.meta.resolve('tsx');
const counts = { tests: 0, pass: 0, fail: 0 };

/**
 * Runs one file, its output passed through and its counts added up. Resolves with its exit
 * code or signal, whether it timed out, and the last test it reported (once a test ends).
 */
function runFile(file) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', TSX, '--test', file], {
      stdio: ['ignore', 'pipe', 'inherit'],
      detached: true, // its own process group, so that a timeout ends the servers it started too
    });
    let partial = '';
    let lastReported;
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk);
      const lines = (partial + chunk).split('\n');
      partial = lines.pop();
      for (const line of lines) {
        const count = /^# (tests|pass|fail) (\d+)$/.exec(line);
        if (count) counts[count[1]] += Number(count[2]);
        const reported = /^\s*(?:not )?ok \d+ - (.*)$/.exec(line);
        if (reported) lastReported = reported[1];
      }
    });
    const killGroup = () => {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // the group is gone already
      }
    };
    // Ctrl-C reaches the terminal's process group only, which the file's group is not.
    const stop = (signal) => {
      killGroup();
      process.exit(signal === 'SIGINT' ? 130 : 143);
    };
    process.once('SIGINT', stop).once('SIGTERM', stop);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, FILE_LIMIT_MS);
    // Whatever the file started and left behind goes with it; its output is then complete.
    child.on('exit', killGroup);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      process.off('SIGINT', stop).off('SIGTERM', stop);
      resolve({ exit: code ?? signal, timedOut, lastReported });
    });
  });
}

const filter = process.argv.slice(2);
const files = findTests('test')
  .filter((file) => filter.length === 0 || filter.some((f) => file.includes(f)))
  .sort();
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}

const failed = [];
const started = Date.now();
for (const file of files) {
  for (let attempt = 1; ; attempt++) {
    console.log(`# file: ${file}${attempt > 1 ? ' (again, after a time out)' : ''}`);
    const fileStarted = Date.now();
    const result = await runFile(file);
    const seconds = ((Date.now() - fileStarted) / 1000).toFixed(1);
    if (result.timedOut) {
      const after = result.lastReported === undefined ? 'before any test was reported' : `after "${result.lastReported}"`;
      console.log(`# ${file}: did not end within ${FILE_LIMIT_MS / 1000} s (${after}); stopped`);
      if (attempt === 1) continue;
      failed.push(`${file} (timed out twice)`);
    } else if (result.exit !== 0) {
      console.log(`# ${file}: failed (exit ${result.exit}, ${seconds} s)`);
      failed.push(file);
    } else {
      console.log(`# ${file}: passed (${seconds} s)${attempt > 1 ? ' on its second run, after a time out' : ''}`);
    }
    break;
  }
}
const minutes = ((Date.now() - started) / 60_000).toFixed(1);
console.log(`# ${counts.tests} tests, ${counts.pass} passed, ${counts.fail} failed, in ${files.length} files (${minutes} min)`);
if (failed.length > 0) {
  console.error(`${failed.length} of ${files.length} test files failed:\n  ${failed.join('\n  ')}`);
  process.exit(1);
}
