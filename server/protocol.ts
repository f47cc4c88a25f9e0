// Tramontane's protocol on top of LSP 3.18: every custom method, its parameters and
// results, shared by the server and the VS Code extension. Types and string constants
// only (no runtime imports), so it bundles for Node, the browser and webviews alike.
//
// Streaming uses LSP's own partial-result mechanism: a request that carries a
// `partialResultToken` gets `$/progress` notifications `{ token, value }` while it runs.
//  - textDocument/inlineCompletion: each value is `InlineCompletionItem[]` holding the
//    whole suggestion so far (a snapshot that replaces the previous one, not a delta);
//    the final response carries the complete list again.
//  - tramontane/chat and tramontane/explain: each value is a `ChatChunk` whose `delta`
//    appends to the answer; the final response carries the whole answer.
// `$/cancelRequest` stops generation within one token; the request then fails with
// RequestCancelled (-32800). A newer inline-completion request for the same document
// supersedes an older one, which then resolves to an empty list.
import type { InlineCompletionItem, Position, ProgressToken, Range } from 'vscode-languageserver-protocol';

export const PROTOCOL_VERSION = 1;

/** LSP error codes the server uses, with one-line messages. */
export const ErrorCodes = {
  /** Unknown document, position out of range, malformed parameters. */
  InvalidParams: -32602,
  /** The client cancelled the request ($/cancelRequest). */
  RequestCancelled: -32800,
  /** The model is not loaded (still loading, or failed to load), or the engine failed. */
  RequestFailed: -32803,
} as const;

// ---------------------------------------------------------------------------------
// Settings: sent as `initializationOptions.settings` and later with
// workspace/didChangeConfiguration `{ settings: { tramontane: Partial<Settings> } }`.

export type FimTemplateName = 'auto' | 'prefix-only' | 'mistral' | 'codellama' | 'starcoder';

export interface Settings {
  /** Prompt template; "auto" detects it from the tokenizer's special tokens. */
  fimTemplate: FimTemplateName;
  /** Tokens of prompt (prefix + suffix + extra context) per completion. */
  contextTokens: number;
  /** Share of contextTokens kept for the text after the cursor. */
  suffixShare: number;
  /** Share of contextTokens for snippets of other open documents (0 disables them). */
  extraShare: number;
  /** Most tokens one completion may generate. */
  maxTokens: number;
  /** Most lines of a multi-line suggestion. */
  maxLines: number;
  /** 0 = greedy. */
  temperature: number;
  /** Most tokens one chat or explain answer may generate. */
  chatMaxTokens: number;
  chatTemperature: number;
  /** Language id → whether other open files of it may lend context; "*" for the rest. */
  enabledLanguages: Record<string, boolean>;
  /** Glob patterns of files never put in a prompt, besides the built-in secrets list. */
  contextExclude: string[];
}

export const DEFAULT_SETTINGS: Settings = {
  fimTemplate: 'auto',
  contextTokens: 2048,
  suffixShare: 0.2,
  extraShare: 0.15,
  maxTokens: 96,
  maxLines: 12,
  temperature: 0,
  chatMaxTokens: 512,
  chatTemperature: 0,
  enabledLanguages: { '*': true },
  contextExclude: [],
};

export interface InitializationOptions {
  settings?: Partial<Settings>;
}

// ---------------------------------------------------------------------------------
// Model status (server → client notifications, and a request to read it at any time).

export type ModelState = 'loading' | 'ready' | 'error';
export type BackendKind = 'cpu' | 'cuda' | 'remote';

/** A status's backend: `auto` only while an engine asked for auto is loading. */
export type StatusBackend = BackendKind | 'auto';

export interface ModelStatus {
  state: ModelState;
  /** Once ready, the backend actually in use (an auto request reports cpu or cuda). */
  backend: StatusBackend;
  /** Folder of the model, or the URL of a remote server. */
  model: string;
  /** The model a remote server runs (the setting, or the first one its /v1/models lists). */
  remoteModel?: string;
  /** Load progress in [0, 1] while loading. */
  progress?: number;
  /** One-line reason when state is "error". */
  error?: string;
  /** The prompt template in use once ready. */
  template?: Exclude<FimTemplateName, 'auto'>;
  /** Chat template in use once ready ("mistral-v1" or "mistral-v3"). */
  chatTemplate?: ChatTemplateName;
  /** Once ready, a one-line caveat about the model (e.g. a GGUF file without its window). */
  notice?: string;
}

export type ChatTemplateName = 'mistral-v1' | 'mistral-v3';

/** Sent whenever the state changes (loading → ready, or → error). */
export const ModelStatusNotification = 'tramontane/modelStatus';
export type ModelStatusNotificationParams = ModelStatus;

/** Sent while weights load, at most every few percent. */
export const LoadProgressNotification = 'tramontane/loadProgress';
export interface LoadProgressParams {
  /** In [0, 1]. */
  fraction: number;
}

export const GetStatusRequest = 'tramontane/status';
export type GetStatusParams = Record<string, never>;
export type GetStatusResult = ModelStatus;

/**
 * Answered at once, whatever the engine is doing (it runs off the server's event loop):
 * a server that leaves a ping unanswered is frozen, and the extension restarts it. A
 * hung engine call the server notices itself, and exits (serve --hang-limit).
 */
export const PingRequest = 'tramontane/ping';
export type PingResult = Record<string, never>;

// ---------------------------------------------------------------------------------
// Inline completions: LSP's textDocument/inlineCompletion. Partial results (snapshots)
// are `InlineCompletionPartial` values on `$/progress` for the request's
// partialResultToken.

export type InlineCompletionPartial = InlineCompletionItem[];

// ---------------------------------------------------------------------------------
// Chat and explain (client → server requests, streamed through $/progress).

export interface ChatMessage {
  role: 'user' | 'assistant';
  content: string;
}

/** Code the question is about: the selection (or file) and its language. */
export interface CodeContext {
  uri: string;
  /** The LSP language id ("typescript", "python", …). */
  languageId?: string;
  /** Omitted: the whole document (clipped to the budget). */
  range?: Range;
}

export const ChatRequest = 'tramontane/chat';
export interface ChatParams {
  /** The conversation so far, ending with the user's new message. */
  messages: ChatMessage[];
  /** Prepended to the first (v1) or last (v3) user message, as mistral-common does. */
  system?: string;
  /** Attached to the last user message as a fenced code block. */
  context?: CodeContext;
  maxTokens?: number;
  temperature?: number;
  partialResultToken?: ProgressToken;
}

export const ExplainRequest = 'tramontane/explain';
export interface ExplainParams {
  uri: string;
  /** Omitted: the whole document (clipped to the budget). */
  range?: Range;
  maxTokens?: number;
  partialResultToken?: ProgressToken;
}

/** A `$/progress` value of tramontane/chat and tramontane/explain. */
export interface ChatChunk {
  delta: string;
}

/** `repetition`: the answer began to repeat itself and was cut after the first copy. */
export type ChatFinish = 'stop' | 'length' | 'cancelled' | 'repetition';

export interface ChatResult {
  text: string;
  finish: ChatFinish;
  promptTokens?: number;
  generatedTokens: number;
  timeToFirstTokenMs?: number;
  totalMs: number;
}
export type ExplainResult = ChatResult;

// ---------------------------------------------------------------------------------
// Stats: what recent completion requests cost, so reuse is measured, not assumed.

export const StatsRequest = 'tramontane/stats';
export interface StatsParams {
  /** Most recent entries to return (default: all kept, up to 1000). */
  limit?: number;
}

/** How a completion request ended. */
export type CompletionOutcome =
  | 'complete' // the model stopped (end of text, a stop string, the block ended)
  | 'length' // maxTokens or maxLines reached
  | 'cached' // served from the completion cache without the engine
  | 'cancelled' // $/cancelRequest
  | 'superseded' // a newer request for the same document replaced it
  | 'error';

export interface CompletionStats {
  /** Increasing per server process. */
  id: number;
  uri: string;
  position: Position;
  /** Epoch milliseconds when the request arrived. */
  at: number;
  outcome: CompletionOutcome;
  template?: Exclude<FimTemplateName, 'auto'>;
  /** Tokens in the prompt; undefined when the backend does not say. */
  promptTokens?: number;
  /** Prompt tokens found in the engine's cache. */
  reusedTokens?: number;
  /** Prompt tokens run through the model for this request. */
  computedTokens?: number;
  generatedTokens: number;
  /** Forward passes that generated them (local engine): with drafts accepted, fewer than the tokens. */
  steps?: number;
  /** Tokens drafted from the context and verified in those passes, and how many were kept. */
  draftedTokens?: number;
  acceptedTokens?: number;
  /** From the request's arrival to the first generated text; undefined if none. */
  timeToFirstTokenMs?: number;
  /** From the request's arrival to its response. */
  totalMs: number;
  /** Characters of the suggestion returned. */
  suggestionChars: number;
}

export interface StatsResult {
  completions: CompletionStats[];
  /** Chat and explain answers since the server started, and how many were cut for repeating themselves. */
  chat?: { answers: number; repetitionStops: number };
}

// ---------------------------------------------------------------------------------
// Workspace context (client → server notification): chunks of other files the user
// looked at, and definitions of the symbols near the cursor (from the editor's own
// definition provider). Kept in a small ring; the prompt's extra context is chosen
// again from them when the cursor moves to another line, never between two keystrokes
// on one line, so typing keeps reusing the prompt's head.

export const ContextChunksNotification = 'tramontane/contextChunks';
export interface ContextChunk {
  uri: string;
  languageId: string;
  text: string;
  kind: 'definition' | 'viewed';
}
export interface ContextChunksParams {
  chunks: ContextChunk[];
}
