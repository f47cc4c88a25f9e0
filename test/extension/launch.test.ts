// How the server process is launched: VS Code's runtime as Node, or a configured node.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { launchProblem, launchSpec, serveArgs } from '../../extension/sidecar/launch';
import { DEFAULTS } from '../../extension/settings';
import { buildProgram } from '../../server/cli/main';

/** What the CLI's own `serve` command makes of the arguments after `serve`. */
function parsedByServe(args: string[]): Record<string, unknown> {
  assert.equal(args[0], 'serve');
  const serve = buildProgram().commands.find((command) => command.name() === 'serve');
  assert.ok(serve);
  assert.deepEqual(serve.parseOptions(args.slice(1)), { operands: [], unknown: [] });
  return serve.opts();
}

const host = { execPath: '/opt/vscode/code', env: { PATH: '/usr/bin', HOME: '/home/u' } };

describe('server launch', () => {
  it("runs the CLI's serve --stdio on VS Code's own runtime, as Node", () => {
    const spec = launchSpec('/ext/dist/cli.js', DEFAULTS, host);
    assert.equal(spec.command, '/opt/vscode/code');
    assert.deepEqual(spec.args, ['/ext/dist/cli.js', 'serve', '--stdio', '--backend', 'auto']);
    assert.equal(spec.env.ELECTRON_RUN_AS_NODE, '1');
    assert.equal(spec.env.PATH, '/usr/bin');
  });

  it('uses a configured node, without the Electron switch', () => {
    const spec = launchSpec('/ext/dist/cli.js', { ...DEFAULTS, nodePath: '/usr/local/bin/node' }, { ...host, env: { ...host.env, ELECTRON_RUN_AS_NODE: '1' } });
    assert.equal(spec.command, '/usr/local/bin/node');
    assert.equal(spec.env.ELECTRON_RUN_AS_NODE, undefined);
  });

  it('passes the model folder, backend and threads', () => {
    assert.deepEqual(serveArgs({ ...DEFAULTS, modelPath: '/m/mistral-7b', backend: 'cuda', threads: 6 }), [
      'serve', '--stdio', '--model', '/m/mistral-7b', '--backend', 'cuda', '--threads', '6',
    ]);
  });

  it('passes a GGUF file and the sliding window it lacks', () => {
    assert.deepEqual(serveArgs({ ...DEFAULTS, modelPath: '/m/mistral-7b-v0.1.Q4_K_M.gguf', backend: 'cpu', slidingWindow: 4096 }), [
      'serve', '--stdio', '--model', '/m/mistral-7b-v0.1.Q4_K_M.gguf', '--backend', 'cpu', '--sliding-window', '4096',
    ]);
  });

  it("passes the context bound of a model without a window, and leaves it to the engine when 0", () => {
    assert.deepEqual(serveArgs({ ...DEFAULTS, modelPath: '/m/mixtral-8x7b-instruct', backend: 'cpu', modelContext: 8192 }), [
      'serve', '--stdio', '--model', '/m/mixtral-8x7b-instruct', '--backend', 'cpu', '--context', '8192',
    ]);
    assert.ok(!serveArgs(DEFAULTS).includes('--context'));
    assert.ok(!serveArgs({ ...DEFAULTS, backend: 'remote', remoteUrl: 'http://gpu:8000/v1', modelContext: 8192 }).includes('--context'), 'not for the remote backend');
  });

  it('builds arguments that the CLI\'s serve command takes, with the settings\' values', () => {
    const local = parsedByServe(serveArgs({ ...DEFAULTS, modelPath: '/m/mixtral', backend: 'cpu', threads: 6, slidingWindow: 4096, modelContext: 8192 }));
    assert.equal(local.stdio, true);
    assert.equal(local.model, '/m/mixtral');
    assert.equal(local.backend, 'cpu');
    assert.equal(local.threads, 6);
    assert.equal(local.slidingWindow, 4096);
    assert.equal(local.context, 8192);
    assert.equal(parsedByServe(serveArgs(DEFAULTS)).context, undefined, "0: the engine's default");
    const remote = parsedByServe(serveArgs({ ...DEFAULTS, backend: 'remote', remoteUrl: 'http://gpu:8000/v1', remoteModel: 'm', remoteFim: 'prompt+suffix' }));
    assert.equal(remote.remote, 'http://gpu:8000/v1');
    assert.equal(remote.remoteModel, 'm');
    assert.equal(remote.remoteFim, 'suffix');
  });

  it('leaves --model out for the embedded model (the server finds it)', () => {
    assert.ok(!serveArgs(DEFAULTS).includes('--model'));
  });

  it('passes only the URL for the remote backend', () => {
    assert.deepEqual(serveArgs({ ...DEFAULTS, backend: 'remote', remoteUrl: 'http://gpu:8000/v1', modelPath: '/m' }), [
      'serve', '--stdio', '--remote', 'http://gpu:8000/v1',
    ]);
  });

  it('passes the remote model and the prompt+suffix FIM mode when set', () => {
    const remote = { ...DEFAULTS, backend: 'remote' as const, remoteUrl: 'http://gpu:8000/v1' };
    assert.deepEqual(serveArgs({ ...remote, remoteModel: 'codestral-22b', remoteFim: 'prompt+suffix' }), [
      'serve', '--stdio', '--remote', 'http://gpu:8000/v1', '--remote-model', 'codestral-22b', '--remote-fim', 'suffix',
    ]);
  });

  it("hands the remote backend's token over in the environment, never on the command line", () => {
    const remote = { ...DEFAULTS, backend: 'remote' as const, remoteUrl: 'https://gpu/v1' };
    const spec = launchSpec('/ext/dist/cli.js', remote, host, 'sk-secret');
    assert.equal(spec.env.TRAMONTANE_REMOTE_TOKEN, 'sk-secret');
    assert.ok(!spec.args.some((a) => a.includes('sk-secret')));
    assert.equal(launchSpec('/ext/dist/cli.js', DEFAULTS, host, 'sk-secret').env.TRAMONTANE_REMOTE_TOKEN, undefined, 'only for the remote backend');
  });

  it('refuses the remote backend without an http(s) URL, saying which setting to fix', () => {
    assert.match(launchProblem({ ...DEFAULTS, backend: 'remote' }) ?? '', /tramontane\.remote\.url/);
    assert.ok(launchProblem({ ...DEFAULTS, backend: 'remote', remoteUrl: 'ftp://x' }));
    assert.equal(launchProblem({ ...DEFAULTS, backend: 'remote', remoteUrl: 'https://x/v1' }), undefined);
    assert.equal(launchProblem(DEFAULTS), undefined);
  });
});
