// The extension's settings: read from the `tramontane.*` configuration with every value
// checked, so a typo in settings.json gives the default rather than a broken server.
// No `vscode` import: the reader takes a lookup function, which keeps this testable.
import { DEFAULT_SETTINGS, type FimTemplateName, type Settings as ServerSettings } from '../server/protocol';

export type BackendSetting = 'auto' | 'cpu' | 'cuda' | 'remote';
/** How a remote server gets the text around the cursor. */
export type RemoteFimSetting = 'template' | 'prompt+suffix';

export interface ExtensionSettings {
  /** Model folder or .gguf file; '' = the embedded demo model. */
  modelPath: string;
  /** Sliding window for a GGUF file that carries none; 0 = as the file says. */
  slidingWindow: number;
  /** Cache length in tokens for a model without a sliding window (Mixtral); 0 = the engine's default. */
  modelContext: number;
  backend: BackendSetting;
  remoteUrl: string;
  /** The model name sent to the remote server; '' = the first one it lists. */
  remoteModel: string;
  remoteFim: RemoteFimSetting;
  contextTokens: number;
  /** Glob patterns of files never put in a prompt, besides the built-in secrets list. */
  contextExclude: string[];
  maxTokens: number;
  maxLines: number;
  debounceMs: number;
  fimTemplate: FimTemplateName;
  temperature: number;
  /** Language id → enabled; "*" is the default for languages not listed. */
  enabledLanguages: Record<string, boolean>;
  chatMaxTokens: number;
  chatTemperature: number;
  /** Node executable for the server; '' = VS Code's own runtime. */
  nodePath: string;
  /** Engine threads; 0 = the server's default (all cores). */
  threads: number;
}

export const DEFAULT_ENABLED_LANGUAGES: Readonly<Record<string, boolean>> = {
  '*': true,
  plaintext: false,
  markdown: false,
  scminput: false,
};

export const DEFAULTS: ExtensionSettings = {
  modelPath: '',
  slidingWindow: 0,
  modelContext: 0,
  backend: 'auto',
  remoteUrl: '',
  remoteModel: '',
  remoteFim: 'template',
  contextTokens: DEFAULT_SETTINGS.contextTokens,
  contextExclude: [],
  maxTokens: DEFAULT_SETTINGS.maxTokens,
  maxLines: DEFAULT_SETTINGS.maxLines,
  debounceMs: 75,
  fimTemplate: DEFAULT_SETTINGS.fimTemplate,
  temperature: DEFAULT_SETTINGS.temperature,
  enabledLanguages: { ...DEFAULT_ENABLED_LANGUAGES },
  chatMaxTokens: DEFAULT_SETTINGS.chatMaxTokens,
  chatTemperature: DEFAULT_SETTINGS.chatTemperature,
  nodePath: '',
  threads: 0,
};

/** Keys under `tramontane.` as package.json declares them. */
export const KEYS = {
  modelPath: 'model.path',
  slidingWindow: 'model.slidingWindow',
  modelContext: 'model.context',
  backend: 'model.backend',
  remoteUrl: 'remote.url',
  remoteModel: 'remote.model',
  remoteFim: 'remote.fim',
  contextTokens: 'context.tokens',
  contextExclude: 'context.exclude',
  maxTokens: 'completion.maxTokens',
  maxLines: 'completion.maxLines',
  debounceMs: 'completion.debounceMs',
  fimTemplate: 'completion.fimTemplate',
  temperature: 'completion.temperature',
  enabledLanguages: 'completion.enabledLanguages',
  chatMaxTokens: 'chat.maxTokens',
  chatTemperature: 'chat.temperature',
  nodePath: 'server.nodePath',
  threads: 'server.threads',
} as const satisfies Record<keyof ExtensionSettings, string>;

/**
 * Settings a workspace must not choose: what program runs (nodePath), which weights load
 * (modelPath) and where code and the API key are sent (remoteUrl). package.json gives
 * them application scope, so VS Code reads them from user settings only and ignores them
 * in a repository's .vscode/settings.json. (Machine scope would also keep them out of a
 * workspace, but in a remote window, code-server's included, it ignores the user's own
 * value too.) userLookup ignores workspace values whatever the editor does with the scope.
 */
export const USER_ONLY_KEYS: readonly (keyof ExtensionSettings)[] = ['modelPath', 'remoteUrl', 'nodePath'];

/** The part of VS Code's WorkspaceConfiguration the settings are read through. */
export interface ConfigurationSource {
  get(key: string): unknown;
  inspect(key: string): { globalValue?: unknown } | undefined;
}

/** The lookup readSettings takes: user (global) values only for USER_ONLY_KEYS. */
export function userLookup(config: ConfigurationSource): (key: string) => unknown {
  const machine = new Set<string>(USER_ONLY_KEYS.map((field) => KEYS[field]));
  return (key) => (machine.has(key) ? config.inspect(key)?.globalValue : config.get(key));
}

/** Settings that only the server process reads at start: changing one needs a restart. */
export const RESTART_KEYS: readonly (keyof ExtensionSettings)[] = ['modelPath', 'slidingWindow', 'modelContext', 'backend', 'remoteUrl', 'remoteModel', 'remoteFim', 'nodePath', 'threads'];

const BACKENDS: readonly BackendSetting[] = ['auto', 'cpu', 'cuda', 'remote'];
const REMOTE_FIM: readonly RemoteFimSetting[] = ['template', 'prompt+suffix'];
const TEMPLATES: readonly FimTemplateName[] = ['auto', 'prefix-only', 'mistral', 'codellama', 'starcoder'];

function str(value: unknown, fallback: string): string {
  return typeof value === 'string' ? value.trim() : fallback;
}

function oneOf<T extends string>(value: unknown, allowed: readonly T[], fallback: T): T {
  return typeof value === 'string' && (allowed as readonly string[]).includes(value) ? (value as T) : fallback;
}

function int(value: unknown, fallback: number, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) return fallback;
  return Math.min(max, Math.max(min, Math.round(value)));
}

function real(value: unknown, fallback: number, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) return fallback;
  return Math.min(max, Math.max(min, value));
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string' && v.trim() !== '').map((v) => v.trim()) : [];
}

function languages(value: unknown): Record<string, boolean> {
  const result: Record<string, boolean> = { ...DEFAULT_ENABLED_LANGUAGES };
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    for (const [id, enabled] of Object.entries(value)) {
      if (typeof enabled === 'boolean') result[id] = enabled;
    }
  }
  return result;
}

/** `get(key)` returns the configured value under `tramontane.` or undefined. */
export function readSettings(get: (key: string) => unknown): ExtensionSettings {
  return {
    modelPath: str(get(KEYS.modelPath), DEFAULTS.modelPath),
    slidingWindow: int(get(KEYS.slidingWindow), DEFAULTS.slidingWindow, 0, 1 << 24),
    modelContext: int(get(KEYS.modelContext), DEFAULTS.modelContext, 0, 1 << 24),
    backend: oneOf(get(KEYS.backend), BACKENDS, DEFAULTS.backend),
    remoteUrl: str(get(KEYS.remoteUrl), DEFAULTS.remoteUrl),
    remoteModel: str(get(KEYS.remoteModel), DEFAULTS.remoteModel),
    remoteFim: oneOf(get(KEYS.remoteFim), REMOTE_FIM, DEFAULTS.remoteFim),
    contextTokens: int(get(KEYS.contextTokens), DEFAULTS.contextTokens, 256, 131072),
    contextExclude: strings(get(KEYS.contextExclude)),
    maxTokens: int(get(KEYS.maxTokens), DEFAULTS.maxTokens, 1, 2048),
    maxLines: int(get(KEYS.maxLines), DEFAULTS.maxLines, 1, 200),
    debounceMs: int(get(KEYS.debounceMs), DEFAULTS.debounceMs, 0, 2000),
    fimTemplate: oneOf(get(KEYS.fimTemplate), TEMPLATES, DEFAULTS.fimTemplate),
    temperature: real(get(KEYS.temperature), DEFAULTS.temperature, 0, 2),
    enabledLanguages: languages(get(KEYS.enabledLanguages)),
    chatMaxTokens: int(get(KEYS.chatMaxTokens), DEFAULTS.chatMaxTokens, 16, 8192),
    chatTemperature: real(get(KEYS.chatTemperature), DEFAULTS.chatTemperature, 0, 2),
    nodePath: str(get(KEYS.nodePath), DEFAULTS.nodePath),
    threads: int(get(KEYS.threads), DEFAULTS.threads, 0, 1024),
  };
}

/** Whether inline completions are on for a language, by its own entry or by "*". */
export function isLanguageEnabled(settings: Pick<ExtensionSettings, 'enabledLanguages'>, languageId: string): boolean {
  const own = settings.enabledLanguages[languageId];
  if (own !== undefined) return own;
  return settings.enabledLanguages['*'] ?? true;
}

/** What the server takes over LSP (initializationOptions and didChangeConfiguration). */
export function serverSettings(settings: ExtensionSettings): Partial<ServerSettings> {
  return {
    fimTemplate: settings.fimTemplate,
    contextTokens: settings.contextTokens,
    enabledLanguages: settings.enabledLanguages,
    contextExclude: settings.contextExclude,
    maxTokens: settings.maxTokens,
    maxLines: settings.maxLines,
    temperature: settings.temperature,
    chatMaxTokens: settings.chatMaxTokens,
    chatTemperature: settings.chatTemperature,
  };
}

/** Whether going from `before` to `after` needs the server process restarted. */
export function needsRestart(before: ExtensionSettings, after: ExtensionSettings): boolean {
  return RESTART_KEYS.some((key) => before[key] !== after[key]);
}
