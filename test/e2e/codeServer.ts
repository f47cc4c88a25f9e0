// A real VS Code (code-server) for the end-to-end test: fresh user-data and extensions
// folders, the .vsix installed the way a user installs it, started in its own process
// group so that stopping it stops every process it started (the extension host and the
// Tramontane server among them).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { toolsHome } from './playwright';

export interface CodeServer {
  url: string;
  port: number;
  pid: number;
  userDataDir: string;
  logFile: string;
  stop(): Promise<void>;
}

export function codeServerBin(): string {
  const bin = path.join(toolsHome(), 'node_modules', '.bin', 'code-server');
  if (!fs.existsSync(bin)) throw new Error(`code-server is not installed in ${toolsHome()}: run test/e2e/install.sh first`);
  return bin;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function waitForHttp(url: string, timeoutMs: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`code-server exited with ${child.exitCode}`);
    try {
      const response = await fetch(`${url}/healthz`);
      if (response.ok) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`code-server did not answer at ${url} within ${timeoutMs} ms`);
}

export interface StartOptions {
  /** Folder for everything of this run (user data, extensions, logs). */
  root: string;
  workspace: string;
  vsix: string;
  settings: Record<string, unknown>;
}

export async function startCodeServer(options: StartOptions): Promise<CodeServer> {
  const bin = codeServerBin();
  const userDataDir = path.join(options.root, 'user-data');
  const extensionsDir = path.join(options.root, 'extensions');
  fs.mkdirSync(path.join(userDataDir, 'User'), { recursive: true });
  fs.mkdirSync(extensionsDir, { recursive: true });
  fs.writeFileSync(path.join(userDataDir, 'User', 'settings.json'), JSON.stringify(options.settings, null, 2));
  // An empty config file, so the user's ~/.config/code-server/config.yaml plays no part.
  const config = path.join(options.root, 'config.yaml');
  fs.writeFileSync(config, '');
  const common = ['--config', config, '--user-data-dir', userDataDir, '--extensions-dir', extensionsDir];

  execFileSync(bin, [...common, '--install-extension', options.vsix], { stdio: 'pipe', timeout: 120_000 });

  const port = await freePort();
  const logFile = path.join(options.root, 'code-server.log');
  const log = fs.openSync(logFile, 'w');
  const child = spawn(
    'setsid',
    [
      bin,
      ...common,
      '--auth',
      'none',
      '--bind-addr',
      `127.0.0.1:${port}`,
      '--disable-telemetry',
      '--disable-update-check',
      '--disable-workspace-trust',
      '--disable-getting-started-override',
      options.workspace,
    ],
    { stdio: ['ignore', log, log], env: { ...process.env, XDG_CONFIG_HOME: path.join(options.root, 'xdg-config') } },
  );
  fs.closeSync(log);
  const pid = child.pid!;
  const url = `http://127.0.0.1:${port}`;
  // If the test run itself is stopped, take code-server (and all it started) along.
  const killGroup = () => {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  };
  const onSignal = (signal: NodeJS.Signals) => {
    killGroup();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('exit', killGroup);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const stop = async () => {
    process.off('exit', killGroup);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    // setsid made the child a process-group leader: signal the whole group.
    try {
      process.kill(-pid, 'SIGTERM');
    } catch {
      return;
    }
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      try {
        process.kill(-pid, 0);
      } catch {
        return;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  };
  try {
    await waitForHttp(url, 60_000, child);
  } catch (error) {
    await stop();
    throw new Error(`${(error as Error).message}\n${fs.readFileSync(logFile, 'utf8').slice(-2000)}`);
  }
  return { url, port, pid, userDataDir, logFile, stop };
}

/** Processes in a process group, by pid, with their command lines (Linux /proc). */
export function processGroup(pgid: number): { pid: number; cmdline: string[] }[] {
  const result: { pid: number; cmdline: string[] }[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      // The fields after the command name, which is in parentheses and may hold spaces.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) !== pgid) continue;
      const cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').filter(Boolean);
      result.push({ pid: Number(entry), cmdline });
    } catch {
      // The process ended while we looked.
    }
  }
  return result;
}

/** The Tramontane server processes code-server's extension host started. */
export function tramontaneServers(pgid: number): number[] {
  return processGroup(pgid)
    .filter((p) => p.cmdline.some((a) => a.endsWith(path.join('dist', 'cli.js'))) && p.cmdline.includes('serve'))
    .map((p) => p.pid);
}
