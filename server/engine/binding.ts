// The raw native addon (native/addon) and its types. Use engine.ts, not this, from
// the rest of the code: it adds cancellation with AbortSignal and call ordering.
import fs from 'node:fs';
import path from 'node:path';

/** The backend a loaded model runs on. */
export type BackendName = 'cpu' | 'cuda';
/** The backend asked for at load: auto takes CUDA when the build has it and a GPU is present. */
export type BackendChoice = 'auto' | BackendName;

export interface ModelConfig {
  vocabSize: number;
  dim: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  hiddenDim: number;
  slidingWindow: number; // 0 = full causal attention
  maxPosition: number;
  ropeTheta: number;
  tiedEmbeddings: boolean;
  ropeLayout: 'rotate-half' | 'interleaved';
  bosId: number;
  eosId: number;
  /** A GGUF file with Mistral 7B v0.1's shape that carries no sliding window, none supplied. */
  windowMissing: boolean;
}

export interface SessionOptions {
  slack?: number; // cache slots beyond the window: exact rollback distance (default 256)
  chunk?: number; // prefill chunk size (default 512)
  context?: number; // cache length for models without a window
  maxDraft?: number; // speculation: most tokens drafted from the context per step (default 8, 0 = off)
}

export interface SamplingOptions {
  temperature?: number; // 0 = greedy
  topK?: number;
  topP?: number;
  seed?: number;
  maxTokens?: number;
  stopTokens?: number[];
  stop?: string[];
  /** Default true: drop the first token's leading space, as at the start of a text. */
  textStart?: boolean;
  /** Token healing (native/engine/heal.h): the prompt's last token, taken off it. The first
   *  token begins with its text, which the output leaves out. */
  healToken?: number;
}

export type FinishReason = 'length' | 'stop_token' | 'stop_string' | 'cancelled';

export interface GenerateResult {
  tokens: number[];
  text: string;
  finish: FinishReason;
  steps: number; // forward passes run while generating
  drafted: number; // tokens drafted from the context and verified
  accepted: number; // drafted tokens the model agreed with (each saved a step)
}

export interface ReuseStats {
  reused: number;
  computed: number;
}

export interface NativeSession {
  tokens(): number[];
  window(): number;
  capacity(): number;
  busy(): boolean;
  feed(tokens: number[], options?: { logits?: boolean }): Promise<Float32Array | undefined>;
  lastLogits(): Float32Array | null;
  rollback(length: number): Promise<number>;
  reuse(prompt: number[]): Promise<ReuseStats>;
  generate(options: SamplingOptions, onText?: (piece: string) => void): Promise<GenerateResult>;
  cancel(): void;
  dispose(): void;
}

export interface NativeModel {
  config(): ModelConfig;
  backend(): BackendName;
  hasTokenizer(): boolean;
  tokenize(text: string, options?: { bos?: boolean; special?: boolean }): number[];
  detokenize(ids: number[], options?: { special?: boolean }): string;
  tokenId(piece: string): number;
  createSession(options?: SessionOptions): NativeSession;
  dispose(): void;
}

export interface NativeAddon {
  loadModel(
    dir: string,
    options?: { backend?: BackendChoice; threads?: number; slidingWindow?: number },
    onProgress?: (fraction: number) => void,
  ): Promise<NativeModel>;
}

const ADDON_FILE = path.join('build', 'Release', 'tramontane_addon.node');

// The addon sits in build/Release under the package root; bundles live one or two
// folders below that root, so look upwards from here.
export function findAddon(start: string = __dirname): string {
  const override = process.env.TRAMONTANE_ADDON;
  if (override) return override;
  for (let dir = start; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, ADDON_FILE);
    if (fs.existsSync(candidate)) return candidate;
    if (path.dirname(dir) === dir) break;
  }
  throw new Error(`native addon not found (${ADDON_FILE}): run "npm install" to build it`);
}

let cached: NativeAddon | undefined;

export function nativeAddon(): NativeAddon {
  if (!cached) {
    const addonPath = findAddon();
    // A computed path: the bundler leaves this require to run time.
    cached = require(addonPath) as NativeAddon;
  }
  return cached;
}
