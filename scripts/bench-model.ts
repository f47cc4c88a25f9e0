// Writes the tiny random model the CPU keystroke benchmark runs on: Mistral's v3
// vocabulary (32768 pieces, with [PREFIX]/[SUFFIX]) and a small Mistral body.
// Usage: node --import tsx scripts/bench-model.ts OUT_DIR
import fs from 'node:fs';
import path from 'node:path';
import { encodeSafetensors, hfConfig, randomTensors, type TinyConfig } from '../test/helpers/tiny-model';
import { tokenizerPath } from '../test/helpers/tokenizers';

export const BENCH_MODEL: TinyConfig = { vocab: 32768, dim: 256, layers: 4, heads: 8, kvHeads: 2, headDim: 32, hidden: 768, window: 4096, eos: 2 };

const out = process.argv[2];
if (!out) {
  console.error('usage: node --import tsx scripts/bench-model.ts OUT_DIR');
  process.exit(1);
}
fs.mkdirSync(out, { recursive: true });
fs.writeFileSync(path.join(out, 'config.json'), JSON.stringify(hfConfig(BENCH_MODEL), null, 2));
fs.writeFileSync(path.join(out, 'model.safetensors'), encodeSafetensors(randomTensors(BENCH_MODEL, 2026)));
fs.copyFileSync(tokenizerPath('v3', 'tokenizer.json'), path.join(out, 'tokenizer.json'));
console.log(out);
