// Explain Selection on ten everyday functions, through the real server (`tramontane serve
// --stdio`), as the editor sends it: each function alone in its file, greedy, the answer
// printed whole for a person to judge. The held-out check (scripts/explain-engine.ts)
// measures overlap with real docstrings; this shows whether the answers to code a user
// writes make sense, which no overlap figure says. The first case is the browser e2e's
// `circle_area`, selected as the e2e selects it.
//
//   node --import tsx scripts/explain-everyday.ts [MODEL...]
//   node --import tsx scripts/explain-everyday.ts --cases FILE MODEL
//
// --cases writes the ten prompts as token ids in explain_cases.json's layout (the reference
// is what a sane answer says), for `training/evaluate_explain.py --cases-file FILE`: the
// same question on the GPU, to read candidates' answers before one comes back. It checks
// that the server's prompt for each has as many tokens.
import { writeFileSync } from 'node:fs';
import type { Range } from 'vscode-languageserver-protocol';
import { modelTokenizer } from '../server/backends/native';
import { loadModel } from '../server/engine/engine';
import { chatTokens, detectChatTemplate, explainQuestion, fencedCode, selectedLines } from '../server/prompt/chat';
import { LspClient } from '../test/helpers/lsp-client';

interface Sample {
  file: string;
  language: string;
  text: string;
  /** Selected lines, as the editor's range: first line, and the line the selection ends on at column 0. */
  lines?: [number, number];
  /** What a sane answer says. */
  sane: string;
}

const SAMPLES: Sample[] = [
  {
    file: 'geometry.py', language: 'python', lines: [3, 5],
    text: 'import math\n\n\ndef circle_area(radius):\n    return math.pi * radius ** 2\n\n\ndef rectangle_area(width, height):\n    return width * height\n\n\n',
    sane: 'Return the area of a circle with the given radius.',
  },
  { file: 'num.py', language: 'python', text: 'def is_even(n):\n    return n % 2 == 0\n', sane: 'Return whether n is even.' },
  { file: 'files.py', language: 'python', text: 'def read_text(path):\n    with open(path) as f:\n        return f.read()\n', sane: 'Read the file at path and return its text.' },
  { file: 'fib.py', language: 'python', text: 'def fibonacci(n):\n    if n < 2:\n        return n\n    return fibonacci(n - 1) + fibonacci(n - 2)\n', sane: 'Return the nth Fibonacci number, computed recursively.' },
  { file: 'util.py', language: 'python', text: 'def clamp(value, low, high):\n    return max(low, min(value, high))\n', sane: 'Limit value to the range from low to high.' },
  { file: 'words.py', language: 'python', text: 'def count_words(text):\n    counts = {}\n    for word in text.split():\n        counts[word] = counts.get(word, 0) + 1\n    return counts\n', sane: 'Count how many times each word occurs in text.' },
  { file: 'math.js', language: 'javascript', text: 'function sum(values) {\n  let total = 0;\n  for (const v of values) {\n    total += v;\n  }\n  return total;\n}\n', sane: 'Return the sum of the values.' },
  { file: 'str.js', language: 'javascript', text: 'function capitalize(s) {\n  return s.charAt(0).toUpperCase() + s.slice(1);\n}\n', sane: 'Return the string with its first letter in upper case.' },
  { file: 'time.ts', language: 'typescript', text: 'export function debounce(fn: () => void, ms: number): () => void {\n  let timer: ReturnType<typeof setTimeout> | undefined;\n  return () => {\n    clearTimeout(timer);\n    timer = setTimeout(fn, ms);\n  };\n}\n', sane: 'Return a function that calls fn once no call has come for ms milliseconds.' },
  { file: 'arr.ts', language: 'typescript', text: 'export function unique<T>(items: T[]): T[] {\n  return [...new Set(items)];\n}\n', sane: 'Return the items without duplicates, in their first order.' },
];

/** The editor's selection (whole lines, ending at column 0 of the line after), its first and end lines, and the function's name. */
function selection(sample: Sample): { range: Range; first: number; end: number; name: string } {
  const [first, end] = sample.lines ?? [0, sample.text.split('\n').length - 1];
  const name = sample.text.split('\n')[first].replace(/^(export )?(def |function )?/, '').replace(/[(<:].*$/, '');
  return { range: { start: { line: first, character: 0 }, end: { line: end, character: 0 } }, first, end, name };
}

/** Each answer, printed; returns each prompt's length in tokens as the server reports it. */
async function explainAll(model: string | undefined): Promise<(number | undefined)[]> {
  const promptTokens: (number | undefined)[] = [];
  const client = await LspClient.start(model ? ['--model', model] : [], {});
  try {
    await client.ready();
    console.log(model ?? 'the embedded default model');
    for (const sample of SAMPLES) {
      const uri = `file:///work/${sample.file}`;
      const { range, name } = selection(sample);
      client.open(uri, sample.text, sample.language);
      const result = await client.explain({ uri, range, maxTokens: 200 });
      client.close(uri);
      promptTokens.push(result.promptTokens);
      console.log(`  ${name.padEnd(14)} ${JSON.stringify(result.text)} (${result.finish})`);
    }
  } finally {
    await client.stop();
  }
  return promptTokens;
}

/** The prompts as the server builds them (the selected lines, fenced, in the Explain question). */
async function writeCases(file: string, model: string): Promise<void> {
  const loaded = await loadModel(model);
  const tokenizer = modelTokenizer(loaded);
  const template = detectChatTemplate(tokenizer);
  const cases = SAMPLES.map((sample) => {
    const { range, first, end, name } = selection(sample);
    const code = sample.text.split('\n').slice(first, end).join('\n') + '\n';
    const question = explainQuestion(sample.language, fencedCode(sample.file, selectedLines(range), sample.language, code));
    const prompt = chatTokens(tokenizer, template, [{ role: 'user', content: question }]);
    return { lang: sample.language, path: sample.file, name, prompt, reference: sample.sane };
  });
  loaded.dispose();
  const served = await explainAll(model);
  cases.forEach((c, i) => {
    if (served[i] !== c.prompt.length) throw new Error(`${c.name}: the server's prompt has ${served[i]} tokens, the case ${c.prompt.length}`);
  });
  writeFileSync(file, JSON.stringify(cases));
  console.log(`${file}: ${cases.length} cases`);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === '--cases') {
    if (args.length !== 3) throw new Error('usage: explain-everyday.ts --cases FILE MODEL');
    return writeCases(args[1], args[2]);
  }
  for (const model of args.length > 0 ? args : [undefined]) await explainAll(model);
}

main().catch((err: Error) => {
  console.error(`explain-everyday: ${err.message}`);
  process.exit(1);
});
