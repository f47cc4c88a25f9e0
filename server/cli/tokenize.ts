// tramontane tokenize: token ids of a text as JSON.
import { loadModel } from '../engine/engine';
import { resolveModelDir, type EngineOptions } from './options';

export interface TokenizeOptions extends EngineOptions {
  bos?: boolean;
  special?: boolean;
}

export async function tokenizeCommand(text: string, options: TokenizeOptions): Promise<void> {
  const model = await loadModel(resolveModelDir(options.model), options);
  try {
    const ids = model.tokenize(text, { bos: options.bos, special: options.special });
    process.stdout.write(JSON.stringify(ids) + '\n');
  } finally {
    model.dispose();
  }
}
