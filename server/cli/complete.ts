// tramontane complete: streams a completion of a prompt to stdout.
import { loadModel } from '../engine/engine';
import { resolveModelDir, type EngineOptions } from './options';

export interface CompleteOptions extends EngineOptions {
  maxTokens: number;
  temperature: number;
  topK: number;
  topP: number;
  seed: number;
  stop: string[];
  bos: boolean;
}

export async function completeCommand(prompt: string, options: CompleteOptions): Promise<void> {
  const model = await loadModel(resolveModelDir(options.model), options);
  const abort = new AbortController();
  const onInterrupt = () => abort.abort();
  process.once('SIGINT', onInterrupt);
  try {
    const session = model.createSession();
    await session.feed(model.tokenize(prompt, { bos: options.bos }));
    const stream = session.stream(
      {
        maxTokens: options.maxTokens,
        temperature: options.temperature,
        topK: options.topK,
        topP: options.topP,
        seed: options.seed,
        stop: options.stop,
      },
      { signal: abort.signal },
    );
    for await (const piece of stream) process.stdout.write(piece);
    process.stdout.write('\n');
  } finally {
    process.off('SIGINT', onInterrupt);
    model.dispose();
  }
}
