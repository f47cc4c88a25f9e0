// What the server asks of a model backend: the native engine in-process, or a remote
// OpenAI-compatible server. Prompts are built by the server (the same for both);
// backends run them and stream text.
import type { BackendKind, ChatMessage, ChatTemplateName } from '../protocol';
import type { TemplateName } from '../prompt/templates';
import type { PromptTokenizer } from '../prompt/tokenizer';

/** Whose sessions a job runs in: the editor's (LSP) or the HTTP API's. One never
 *  evicts the other's: a client of the API cannot push the editor's caches out. */
export type PoolName = 'editor' | 'http';

export interface CompletionJob {
  /** Session affinity: requests with the same key share a KV cache (one per document). */
  key: string;
  /** Default: the editor's. */
  pool?: PoolName;
  /** Token ids of the prompt (native backends need them). */
  tokens?: number[];
  /** The prompt as text (remote backends send it). */
  text: string;
  /** The prompt's two halves, for servers that apply the FIM template themselves. */
  fim?: { prefix: string; suffix: string };
  /** The prompt ends in document text: a backend that can heal its last token does
   *  (native/engine/heal.h), so a cursor inside a would-be token completes it well. */
  heal?: boolean;
  maxTokens: number;
  temperature: number;
  stop: string[];
  stopTokens: number[];
  signal: AbortSignal;
  onText: (piece: string) => void;
  /** Called once the prompt is in the cache, before the first token. */
  onPrompt?: (stats: { promptTokens: number; reusedTokens: number; computedTokens: number }) => void;
}

export type RunFinish = 'stop' | 'length' | 'cancelled';

export interface CompletionRun {
  promptTokens?: number;
  reusedTokens?: number;
  computedTokens?: number;
  generatedTokens: number;
  /** Forward passes that produced the generated tokens; fewer than the tokens when drafts were accepted. */
  steps?: number;
  /** Tokens drafted from the context and verified (speculative decoding), and how many the model agreed with. */
  draftedTokens?: number;
  acceptedTokens?: number;
  finish: RunFinish;
}

export interface ChatJob {
  /** Default: the editor's. */
  pool?: PoolName;
  messages: ChatMessage[];
  system?: string;
  maxTokens: number;
  temperature: number;
  signal: AbortSignal;
  onText: (piece: string) => void;
}

export interface ChatRun {
  promptTokens?: number;
  generatedTokens: number;
  /** As CompletionRun's, summed over the answer's steps. */
  draftedTokens?: number;
  acceptedTokens?: number;
  finish: RunFinish;
  /** The whole answer decoded at once, when the backend can: the streamed pieces can
   *  differ where a preemption split a character between two generation steps. */
  text?: string;
}

export interface Backend {
  readonly kind: BackendKind;
  /** The model folder, or the remote server's URL. */
  readonly label: string;
  /** For building prompts exactly; remote backends have none and estimate. */
  readonly tokenizer?: PromptTokenizer;
  readonly chatTemplate?: ChatTemplateName;
  /** What the "auto" template means without a tokenizer to inspect. */
  readonly autoTemplate?: TemplateName;
  /** A one-line caveat about the model for the status, if any. */
  readonly notice?: string;
  /** Most prompt + generated tokens one sequence may hold (Infinity if unbounded). */
  readonly contextLimit: number;
  complete(job: CompletionJob): Promise<CompletionRun>;
  chat(job: ChatJob): Promise<ChatRun>;
  dispose(): void;
}
