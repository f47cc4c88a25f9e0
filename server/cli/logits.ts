// tramontane logits: one row of fp32 logits per input position, as computed.
import { loadModel } from '../engine/engine';
import { resolveModelDir, type EngineOptions } from './options';

export interface LogitsOptions extends EngineOptions {
  tokens: number[];
  chunk?: number;
  slack?: number;
}

export async function logitsCommand(options: LogitsOptions): Promise<void> {
  const model = await loadModel(resolveModelDir(options.model), options);
  try {
    const session = model.createSession({ chunk: options.chunk, slack: options.slack });
    const flat = (await session.feed(options.tokens, { logits: true }))!;
    const vocab = model.config.vocabSize;
    const rows: string[] = [];
    for (let i = 0; i < options.tokens.length; i++) {
      rows.push(JSON.stringify(Array.from(flat.subarray(i * vocab, (i + 1) * vocab))));
    }
    process.stdout.write(`{"logits": [${rows.join(',\n')}]}\n`);
  } finally {
    model.dispose();
  }
}
