// How the server process is started: which runtime, which arguments, which environment.
// By default it runs on VS Code's own runtime (Electron as Node, or code-server's Node),
// so users need no separate Node.js install.
import type { ExtensionSettings } from '../settings';

export interface LaunchSpec {
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
}

export interface LaunchHost {
  /** The editor's own executable (process.execPath). */
  execPath: string;
  env: NodeJS.ProcessEnv;
}

/** Arguments after the script for `tramontane serve`. */
export function serveArgs(settings: ExtensionSettings): string[] {
  const args = ['serve', '--stdio'];
  if (settings.backend === 'remote') {
    args.push('--remote', settings.remoteUrl);
    if (settings.remoteModel) args.push('--remote-model', settings.remoteModel);
    if (settings.remoteFim === 'prompt+suffix') args.push('--remote-fim', 'suffix');
  } else {
    if (settings.modelPath) args.push('--model', settings.modelPath);
    args.push('--backend', settings.backend);
    if (settings.threads > 0) args.push('--threads', String(settings.threads));
    if (settings.slidingWindow > 0) args.push('--sliding-window', String(settings.slidingWindow));
    if (settings.modelContext > 0) args.push('--context', String(settings.modelContext));
  }
  return args;
}

/** `remoteToken`: the bearer token for the remote backend, kept in VS Code's secret storage. */
export function launchSpec(cliPath: string, settings: ExtensionSettings, host: LaunchHost, remoteToken?: string): LaunchSpec {
  const env: NodeJS.ProcessEnv = { ...host.env };
  // Through the environment, not the command line, where other users could read it.
  if (settings.backend === 'remote' && remoteToken) env.TRAMONTANE_REMOTE_TOKEN = remoteToken;
  if (settings.nodePath) {
    delete env.ELECTRON_RUN_AS_NODE;
    return { command: settings.nodePath, args: [cliPath, ...serveArgs(settings)], env };
  }
  // Electron behaves as plain Node only with this set; Node itself ignores it.
  env.ELECTRON_RUN_AS_NODE = '1';
  return { command: host.execPath, args: [cliPath, ...serveArgs(settings)], env };
}

/** The one-line reason a configuration cannot start, or undefined when it can. */
export function launchProblem(settings: ExtensionSettings): string | undefined {
  if (settings.backend === 'remote' && !/^https?:\/\//i.test(settings.remoteUrl)) {
    return 'The remote backend needs "tramontane.remote.url" set to an http(s) URL of an OpenAI-compatible server.';
  }
  return undefined;
}
