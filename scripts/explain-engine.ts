// The Explain check of training/evaluate_explain.py, through the engine as users run it:
// the same 100 held-out functions (explain_cases.json, written by training/prepare.cjs), the
// same greedy answers of at most 320 tokens ended by EOS, the same loop rule, on the
// default path (8-bit activations). The GPU check runs transformers-style float arithmetic
// on the Q8_0 weights; the two round differently, and an answer at the edge of ending can
// end in one and run on in the other, so a model ships on both.
//
//   node --import tsx scripts/explain-engine.ts [MODEL...] [--data training/data/tokens]
//
// Prints, per model: answers that loop (a run of 8 tokens 3 times, or no end within 320
// tokens), answers without an end, mean token F1 against the real docstring, mean answer
// length, then each looping answer.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { loadModel } from '../server/engine/engine';

const MAX_NEW_TOKENS = 320;
const LOOP_RUN = 8;
const LOOP_TIMES = 3;

interface ExplainCase {
  name: string;
  prompt: number[];
  reference: string;
}

function words(text: string): string[] {
  return text.toLowerCase().match(/[a-z0-9]+/g) ?? [];
}

function tokenF1(answer: string[], reference: string[]): number {
  const left = new Map<string, number>();
  for (const w of reference) left.set(w, (left.get(w) ?? 0) + 1);
  let common = 0;
  for (const w of answer) {
    const n = left.get(w) ?? 0;
    if (n > 0) {
      common++;
      left.set(w, n - 1);
    }
  }
  if (common === 0) return 0;
  const precision = common / answer.length;
  const recall = common / reference.length;
  return (2 * precision * recall) / (precision + recall);
}

function loops(tokens: number[]): boolean {
  const seen = new Map<string, number>();
  for (let i = 0; i + LOOP_RUN <= tokens.length; i++) {
    const run = tokens.slice(i, i + LOOP_RUN).join(',');
    const times = (seen.get(run) ?? 0) + 1;
    if (times >= LOOP_TIMES) return true;
    seen.set(run, times);
  }
  return false;
}

async function measure(modelPath: string, cases: ExplainCase[]): Promise<void> {
  const model = await loadModel(modelPath);
  try {
    let looping = 0;
    let unended = 0;
    let f1 = 0;
    let answerTokens = 0;
    const shown: string[] = [];
    for (const c of cases) {
      const session = model.createSession();
      try {
        await session.reuse(c.prompt);
        const result = await session.generate({ temperature: 0, maxTokens: MAX_NEW_TOKENS });
        const ended = result.finish === 'stop_token';
        const answer = ended ? result.tokens.slice(0, -1) : result.tokens;
        if (!ended) unended++;
        if (!ended || loops(answer)) {
          looping++;
          shown.push(`  ${c.name}: ${JSON.stringify(result.text.slice(0, 120))}`);
        }
        f1 += tokenF1(words(result.text), words(c.reference));
        answerTokens += answer.length;
      } finally {
        session.dispose();
      }
    }
    const n = cases.length;
    console.log(`${modelPath}: ${n} answers: ${looping} looping, ${unended} without an end; ` +
      `token F1 ${(f1 / n).toFixed(3)}; ${(answerTokens / n).toFixed(1)} tokens on average`);
    for (const line of shown) console.log(line);
  } finally {
    model.dispose();
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const dataAt = args.indexOf('--data');
  const data = dataAt >= 0 ? args.splice(dataAt, 2)[1] : 'training/data/tokens';
  const models = args.length > 0 ? args : ['models/default'];
  const file = path.join(data, 'explain_cases.json');
  let cases: ExplainCase[];
  try {
    cases = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file}: ${(err as Error).message} (written by node training/prepare.cjs)`);
  }
  for (const m of models) await measure(m, cases);
}

main().catch((err: Error) => {
  console.error(`explain-engine: ${err.message}`);
  process.exit(1);
});
