// Speculative decoding on code that copies from its context (a file that repeats a
// pattern; a chat answer that rewrites a function under a new name), and on text that
// does not: tokens, forward passes (steps), drafts accepted, and the best of 5 runs in tok/s,
// with drafting off (maxDraft 0) and on, on the CPU. With --temperature T > 0
// (speculative sampling) the 5 runs use seeds 0–4 and differ: their sums are printed,
// and tok/s is all their tokens over all their time.
// --step-ms PLAIN,VERIFY: what one forward pass costs on another machine (e.g. the 7B
// shape on a GPU: one decode step, and the step verifying a full draft, from
// tramontane-bench-cuda's appends): prints the effective tok/s there, as a range from
// every step costing PLAIN to every step costing VERIFY. --max-draft N: the longest draft
// (default 8; the GPU drafts at most 7, so that a verification is 8 tokens).
//   node --import tsx scripts/bench-draft.ts [--temperature T] [--max-draft 7] [--step-ms 5.78,6.55] [MODEL_DIR]
//   (default model: the demo model)
import path from 'node:path';
import { loadModel } from '../server/engine/engine';
import { modelTokenizer } from '../server/backends/native';
import { chatTokens, detectChatTemplate } from '../server/prompt/chat';
const PROMPTS: Record<string, string> = {
  'repeated pattern (py)': 'def area_of_square(side):\n    return side * side\n\n\ndef area_of_rectangle(width, height):\n    return width * height\n\n\ndef perimeter_of_square(side):\n    return 4 * side\n\n\ndef perimeter_of_rectangle(width, height):\n    return 2 * (width + height)\n\n\ndef area_of_',
  'object fields (js)': 'const config = {\n  host: options.host,\n  port: options.port,\n  user: options.user,\n  password: options.password,\n  database: options.',
  'rename a function (py)': 'def load_settings(path):\n    with open(path) as f:\n        data = json.load(f)\n    if "name" not in data:\n        raise ValueError("missing name")\n    return Settings(**data)\n\n\n# The same function, for profiles.\ndef load_profile(path):\n',
  'new code (little to copy)': 'import numpy as np\n\n\ndef softmax(x):\n',
};
// Chat answers (the model's chat template; the answer ends at its EOS or 96 tokens).
const CHAT_PROMPTS: Record<string, string> = {
  'chat: rename a function (py)': 'Rename load_settings to load_profile:\n\n```python\ndef load_settings(path):\n    with open(path) as f:\n        data = json.load(f)\n    if "name" not in data:\n        raise ValueError("missing name")\n    return Settings(**data)\n```',
};
(async () => {
  const args = process.argv.slice(2);
  const at = args.indexOf('--temperature');
  const temperature = at >= 0 ? Number(args.splice(at, 2)[1]) : 0;
  const draftAt = args.indexOf('--max-draft');
  const longest = draftAt >= 0 ? Number(args.splice(draftAt, 2)[1]) : 8;
  if (!(Number.isInteger(longest) && longest >= 1)) throw new Error('--max-draft expects a whole number ≥ 1');
  const stepAt = args.indexOf('--step-ms');
  const stepMs = stepAt >= 0 ? args.splice(stepAt, 2)[1].split(',').map(Number) : undefined;
  if (stepMs && (stepMs.length !== 2 || !stepMs.every((v) => v > 0))) throw new Error('--step-ms expects PLAIN,VERIFY in ms, e.g. 5.78,7.08');
  const model = await loadModel(args[0] ?? path.join(__dirname, '..', 'models', 'default'), { backend: 'cpu', threads: 2 });
  const tokenizer = modelTokenizer(model);
  const tasks: [string, number[], number[]][] = [
    ...Object.entries(PROMPTS).map(([name, text]): [string, number[], number[]] => [name, model.tokenize(text, { bos: true }), []]),
    ...Object.entries(CHAT_PROMPTS).map(([name, text]): [string, number[], number[]] => [
      name,
      chatTokens(tokenizer, detectChatTemplate(tokenizer), [{ role: 'user', content: text }]),
      [tokenizer.eosId],
    ]),
  ];
  for (const [name, promptTokens, stopTokens] of tasks) {
    const row: string[] = [name];
    for (const maxDraft of [0, longest]) {
      let best = Infinity; let r: any;
      const sum = { tokens: 0, steps: 0, accepted: 0, drafted: 0, ms: 0 };
      for (let i = 0; i < 5; i++) {
        const s = model.createSession({ maxDraft });
        await s.feed(promptTokens);
        const t0 = performance.now();
        r = await s.generate({ maxTokens: 96, textStart: false, stopTokens, temperature, seed: i });
        const ms = performance.now() - t0;
        best = Math.min(best, ms);
        sum.tokens += r.tokens.length; sum.steps += r.steps; sum.accepted += r.accepted; sum.drafted += r.drafted; sum.ms += ms;
        s.dispose();
      }
      row.push(temperature > 0
        ? `draft ${maxDraft}: ${sum.tokens} tok in 5 runs, ${sum.steps} steps, ${sum.accepted}/${sum.drafted} accepted, ${(sum.tokens / sum.ms * 1000).toFixed(0)} tok/s`
        : `draft ${maxDraft}: ${r.tokens.length} tok, ${r.steps} steps, ${r.accepted}/${r.drafted} accepted, best ${(r.tokens.length / best * 1000).toFixed(0)} tok/s`);
      if (stepMs) {
        // Plain decoding's steps all cost PLAIN; a drafting step costs at most VERIFY.
        const [plain, verify] = stepMs;
        const high = (sum.tokens / (sum.steps * plain)) * 1000;
        const low = (sum.tokens / (sum.steps * (maxDraft > 0 ? verify : plain))) * 1000;
        row.push(`at ${plain}/${verify} ms a step: ${low.toFixed(0)}–${high.toFixed(0)} tok/s`);
      }
    }
    console.log(row.join(' | '));
  }
  model.dispose();
})();
