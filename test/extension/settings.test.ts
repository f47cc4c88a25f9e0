// Reading the settings: defaults, validation of hand-edited values, per-language switches,
// what the server is sent and which changes need a new server process.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import {
  DEFAULTS,
  KEYS,
  USER_ONLY_KEYS,
  isLanguageEnabled,
  needsRestart,
  readSettings,
  serverSettings,
  userLookup,
  type ConfigurationSource,
  type ExtensionSettings,
} from '../../extension/settings';

const read = (values: Record<string, unknown>) => readSettings((key) => values[key]);

describe('settings', () => {
  it('gives the defaults when nothing is set', () => {
    assert.deepEqual(read({}), DEFAULTS);
  });

  it('reads every key under its package.json name', () => {
    const s = read({
      'model.path': '/models/codestral',
      'model.slidingWindow': 4096,
      'model.context': 8192,
      'model.backend': 'cuda',
      'remote.url': 'http://box:8000/v1',
      'remote.model': 'codestral-22b',
      'remote.fim': 'prompt+suffix',
      'context.tokens': 4096,
      'context.exclude': ['**/secrets/**', 42, ' *.token '],
      'completion.maxTokens': 64,
      'completion.maxLines': 3,
      'completion.debounceMs': 20,
      'completion.fimTemplate': 'codellama',
      'completion.temperature': 0.2,
      'completion.enabledLanguages': { python: false },
      'chat.maxTokens': 1024,
      'chat.temperature': 0.7,
      'server.nodePath': '/usr/bin/node',
      'server.threads': 8,
    });
    assert.deepEqual(s, {
      modelPath: '/models/codestral',
      slidingWindow: 4096,
      modelContext: 8192,
      backend: 'cuda',
      remoteUrl: 'http://box:8000/v1',
      remoteModel: 'codestral-22b',
      remoteFim: 'prompt+suffix',
      contextTokens: 4096,
      contextExclude: ['**/secrets/**', '*.token'],
      maxTokens: 64,
      maxLines: 3,
      debounceMs: 20,
      fimTemplate: 'codellama',
      temperature: 0.2,
      enabledLanguages: { '*': true, plaintext: false, markdown: false, scminput: false, python: false },
      chatMaxTokens: 1024,
      chatTemperature: 0.7,
      nodePath: '/usr/bin/node',
      threads: 8,
    } satisfies ExtensionSettings);
  });

  it('falls back to the default for values of the wrong type or out of the list', () => {
    const s = read({ 'model.backend': 'tpu', 'completion.fimTemplate': 'fim', 'completion.maxTokens': '64', 'model.path': 42 });
    assert.equal(s.backend, 'auto');
    assert.equal(s.fimTemplate, 'auto');
    assert.equal(s.maxTokens, DEFAULTS.maxTokens);
    assert.equal(s.modelPath, '');
  });

  it('clamps numbers into their range and rounds integers', () => {
    const s = read({ 'completion.maxTokens': 100000, 'completion.debounceMs': -5, 'context.tokens': 1000.6, 'completion.temperature': 9 });
    assert.equal(s.maxTokens, 2048);
    assert.equal(s.debounceMs, 0);
    assert.equal(s.contextTokens, 1001);
    assert.equal(s.temperature, 2);
    assert.equal(read({ 'model.context': -1 }).modelContext, 0);
    assert.equal(read({ 'model.context': 1e9 }).modelContext, 1 << 24, "the engine's largest context");
  });

  it('trims paths and URLs', () => {
    assert.equal(read({ 'model.path': '  /m  ' }).modelPath, '/m');
  });

  it('enables a language by its own entry, else by "*"', () => {
    const s = read({ 'completion.enabledLanguages': { '*': false, python: true, rust: 'yes' } });
    assert.equal(isLanguageEnabled(s, 'python'), true);
    assert.equal(isLanguageEnabled(s, 'typescript'), false);
    assert.equal(isLanguageEnabled(s, 'rust'), false, 'a non-boolean entry is ignored');
    assert.equal(isLanguageEnabled(read({}), 'markdown'), false);
    assert.equal(isLanguageEnabled(read({}), 'go'), true);
  });

  it('sends the server its prompt and sampling settings', () => {
    const s = read({ 'completion.fimTemplate': 'mistral', 'completion.maxTokens': 32, 'chat.temperature': 0.5 });
    const sent = serverSettings(s);
    assert.equal(sent.fimTemplate, 'mistral');
    assert.equal(sent.maxTokens, 32);
    assert.equal(sent.chatTemperature, 0.5);
    assert.equal(sent.contextTokens, DEFAULTS.contextTokens);
    // The server filters other open files by language and by the exclude list.
    assert.deepEqual(sent.enabledLanguages, DEFAULTS.enabledLanguages);
    assert.deepEqual(serverSettings(read({ 'context.exclude': ['*.secret'] })).contextExclude, ['*.secret']);
  });

  it('restarts the server for model, backend, runtime and thread changes only', () => {
    const base = read({});
    assert.equal(needsRestart(base, read({ 'model.path': '/m' })), true);
    assert.equal(needsRestart(base, read({ 'model.backend': 'cuda' })), true);
    assert.equal(needsRestart(base, read({ 'model.context': 4096 })), true);
    assert.equal(needsRestart(base, read({ 'server.nodePath': '/n' })), true);
    assert.equal(needsRestart(base, read({ 'server.threads': 2 })), true);
    assert.equal(needsRestart(base, read({ 'remote.model': 'm' })), true);
    assert.equal(needsRestart(base, read({ 'remote.fim': 'prompt+suffix' })), true);
    assert.equal(needsRestart(base, read({ 'context.exclude': ['*.x'] })), false);
    assert.equal(needsRestart(base, read({ 'completion.maxTokens': 10 })), false);
    assert.equal(needsRestart(base, read({ 'completion.enabledLanguages': { go: false } })), false);
  });

  it('declares every setting in package.json with a description and the same default', () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8'));
    const properties = manifest.contributes.configuration.properties as Record<string, { default: unknown; markdownDescription?: string; description?: string }>;
    for (const [field, key] of Object.entries(KEYS)) {
      const declared = properties[`tramontane.${key}`];
      assert.ok(declared, `tramontane.${key} is declared`);
      assert.ok((declared.markdownDescription ?? declared.description ?? '').length > 20, `tramontane.${key} is described`);
      assert.deepEqual(declared.default, DEFAULTS[field as keyof ExtensionSettings], `tramontane.${key} default`);
    }
    assert.equal(Object.keys(properties).length, Object.keys(KEYS).length, 'no undeclared reader and no unread setting');
  });

  it('gives the settings that run a program, load weights or send code elsewhere application scope', () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8'));
    const properties = manifest.contributes.configuration.properties as Record<string, { scope?: string }>;
    assert.deepEqual([...USER_ONLY_KEYS].sort(), ['modelPath', 'nodePath', 'remoteUrl']);
    for (const field of USER_ONLY_KEYS) assert.equal(properties[`tramontane.${KEYS[field]}`].scope, 'application', KEYS[field]);
    const others = Object.keys(KEYS).filter((field) => !USER_ONLY_KEYS.includes(field as keyof ExtensionSettings));
    for (const field of others) assert.equal(properties[`tramontane.${KEYS[field as keyof ExtensionSettings]}`].scope, undefined, field);
  });

  it("ignores a workspace's values for those settings, and keeps the user's", () => {
    // Values as VS Code's configuration layers them: user, then workspace, then folder.
    const layers: Record<string, { globalValue?: unknown; workspaceValue?: unknown; workspaceFolderValue?: unknown }> = {
      'server.nodePath': { workspaceValue: './evil.sh' },
      'remote.url': { globalValue: 'http://my-gpu:8000/v1', workspaceFolderValue: 'http://attacker.example/v1' },
      'model.path': { workspaceValue: '/tmp/weights' },
      'model.backend': { workspaceValue: 'cpu' },
      'completion.maxTokens': { globalValue: 40, workspaceValue: 24 },
    };
    const merged = (key: string) => {
      const layer = layers[key];
      return layer?.workspaceFolderValue ?? layer?.workspaceValue ?? layer?.globalValue;
    };
    const config: ConfigurationSource = { get: merged, inspect: (key) => layers[key] ?? {} };
    const s = readSettings(userLookup(config));
    assert.equal(s.nodePath, '', 'the workspace cannot choose the program the server runs with');
    assert.equal(s.remoteUrl, 'http://my-gpu:8000/v1', "the user's remote, not the workspace's");
    assert.equal(s.modelPath, '');
    assert.equal(s.backend, 'cpu', 'other settings follow the workspace as usual');
    assert.equal(s.maxTokens, 24);
  });
});
