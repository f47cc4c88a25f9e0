// Held-out perplexity through the engine's default path, per language: the measure
// training/evaluate.py takes on the GPU, here for a GGUF as users run it (another
// quantization, a grown model) on this machine's CPU.
//
//   node --import tsx scripts/perplexity-engine.ts [MODEL...] [--data training/data/tokens] [--every 4] [--tokens 512]
//
// Each held-out file (heldout_files.bin, written by training/prepare.cjs) counts with its
// first --tokens tokens after BOS; --every N takes every Nth file (4: about 72,000 tokens,
// 2 to 4 minutes a model on 2 cores).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { loadModel } from '../server/engine/engine';

const LANGUAGES = ['python', 'typescript', 'javascript'];
const FILE_ROW = 6; // uint32: token offset, token count, language index, aux offset, aux length, bytes
const BOS = 1;

function option(args: string[], name: string, fallback: string): string {
  const at = args.indexOf(name);
  return at >= 0 ? args.splice(at, 2)[1] : fallback;
}

/** -log p(next) of one row of logits, in float64. */
function negativeLogLikelihood(row: Float32Array, next: number): number {
  let max = -Infinity;
  for (const v of row) if (v > max) max = v;
  let sum = 0;
  for (const v of row) sum += Math.exp(v - max);
  return max + Math.log(sum) - row[next];
}

async function measure(modelPath: string, tokens: Uint16Array, files: Uint32Array, every: number, length: number): Promise<void> {
  const model = await loadModel(modelPath);
  try {
    const nll = LANGUAGES.map(() => 0);
    const counted = LANGUAGES.map(() => 0);
    for (let f = 0; (f + 1) * FILE_ROW <= files.length; f += every) {
      const [offset, count, language] = files.subarray(f * FILE_ROW, f * FILE_ROW + 3);
      const sequence = [BOS, ...tokens.subarray(offset, offset + Math.min(count, length))];
      const session = model.createSession();
      try {
        const rows = (await session.feed(sequence.slice(0, -1), { logits: true }))!;
        const vocab = rows.length / (sequence.length - 1);
        for (let i = 0; i + 1 < sequence.length; i++) {
          nll[language] += negativeLogLikelihood(rows.subarray(i * vocab, (i + 1) * vocab), sequence[i + 1]);
          counted[language]++;
        }
      } finally {
        session.dispose();
      }
    }
    const figures = LANGUAGES.map((l, i) => `${l} ${Math.exp(nll[i] / counted[i]).toFixed(3)}`).join(' / ');
    console.log(`${modelPath}: perplexity ${figures} (${counted.reduce((a, b) => a + b, 0)} tokens)`);
  } finally {
    model.dispose();
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const data = option(args, '--data', 'training/data/tokens');
  const every = Number(option(args, '--every', '4'));
  const length = Number(option(args, '--tokens', '512'));
  if (!(every >= 1 && length >= 2)) throw new Error('--every must be at least 1 and --tokens at least 2');
  let tokens: Uint16Array;
  let files: Uint32Array;
  try {
    const t = readFileSync(path.join(data, 'heldout_tokens.bin'));
    const f = readFileSync(path.join(data, 'heldout_files.bin'));
    tokens = new Uint16Array(t.buffer.slice(t.byteOffset, t.byteOffset + t.byteLength));
    files = new Uint32Array(f.buffer.slice(f.byteOffset, f.byteOffset + f.byteLength));
  } catch (err) {
    throw new Error(`${data}: ${(err as Error).message} (written by node training/prepare.cjs)`);
  }
  for (const m of args.length > 0 ? args : ['models/default']) await measure(m, tokens, files, every, length);
}

main().catch((err: Error) => {
  console.error(`perplexity-engine: ${err.message}`);
  process.exit(1);
});
