// Opens the backend a `serve` command names: the engine on a model folder, or a remote
// OpenAI-compatible server.
import { loadModel, type BackendChoice } from '../engine/engine';
import type { StatusBackend } from '../protocol';
import type { Backend } from './backend';
import { adviseMemory } from './memory-advice';
import { NativeBackend, type NativeOptions } from './native';
import { RemoteBackend, type RemoteOptions } from './remote';

export type BackendSpec =
  | { kind: 'native'; modelDir: string; engine: BackendChoice; threads?: number; slidingWindow?: number; native?: NativeOptions }
  | ({ kind: 'remote' } & RemoteOptions);

// Test hook: TRAMONTANE_TEST_FAULT=load-error:MESSAGE makes the engine's load fail with
// MESSAGE, so the path of a load failure the test machine cannot produce (a full GPU) can
// be tested end to end.
function loadFault(): string | undefined {
  return /^load-error:(.+)$/.exec(process.env.TRAMONTANE_TEST_FAULT ?? '')?.[1];
}

export async function openBackend(spec: BackendSpec, onProgress?: (fraction: number) => void): Promise<Backend> {
  if (spec.kind === 'remote') {
    const backend = await RemoteBackend.connect(spec);
    onProgress?.(1);
    return backend;
  }
  let model;
  try {
    const fault = loadFault();
    if (fault) throw new Error(fault);
    model = await loadModel(spec.modelDir, { backend: spec.engine, threads: spec.threads, slidingWindow: spec.slidingWindow, onProgress });
  } catch (error) {
    throw adviseMemory(error);
  }
  if (!model.hasTokenizer) {
    model.dispose();
    throw new Error(`${spec.modelDir} has no tokenizer (tokenizer.json, tokenizer.model, or tokenizer.ggml.* in a GGUF file): completion needs one`);
  }
  return new NativeBackend(model, spec.modelDir, spec.native);
}

/** What a spec asks for; `auto` until the engine has loaded and says which it chose. */
export function describeSpec(spec: BackendSpec): { backend: StatusBackend; model: string } {
  return spec.kind === 'remote' ? { backend: 'remote', model: spec.url } : { backend: spec.engine, model: spec.modelDir };
}
