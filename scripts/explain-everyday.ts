// Explain Selection on ten everyday functions, through the real server (`tramontane serve
// --stdio`), as the editor sends it: each function alone in its file, greedy, the answer
// printed whole for a person to judge. The held-out check (scripts/explain-engine.ts)
// measures overlap with real docstrings; this shows whether the answers to code a user
// writes make sense, which no overlap figure says. The first case is the browser e2e's
// `circle_area`, selected as the e2e selects it.
//
//   node --import tsx scripts/explain-everyday.ts [MODEL...]
import { LspClient } from '../test/helpers/lsp-client';

interface Sample {
  file: string;
  language: string;
  text: string;
  /** Selected lines, as the editor's range: first line, and the line the selection ends on at column 0. */
  lines?: [number, number];
}

const SAMPLES: Sample[] = [
  {
    file: 'geometry.py', language: 'python', lines: [3, 5],
    text: 'import math\n\n\ndef circle_area(radius):\n    return math.pi * radius ** 2\n\n\ndef rectangle_area(width, height):\n    return width * height\n\n\n',
  },
  { file: 'num.py', language: 'python', text: 'def is_even(n):\n    return n % 2 == 0\n' },
  { file: 'files.py', language: 'python', text: 'def read_text(path):\n    with open(path) as f:\n        return f.read()\n' },
  { file: 'fib.py', language: 'python', text: 'def fibonacci(n):\n    if n < 2:\n        return n\n    return fibonacci(n - 1) + fibonacci(n - 2)\n' },
  { file: 'util.py', language: 'python', text: 'def clamp(value, low, high):\n    return max(low, min(value, high))\n' },
  { file: 'words.py', language: 'python', text: 'def count_words(text):\n    counts = {}\n    for word in text.split():\n        counts[word] = counts.get(word, 0) + 1\n    return counts\n' },
  { file: 'math.js', language: 'javascript', text: 'function sum(values) {\n  let total = 0;\n  for (const v of values) {\n    total += v;\n  }\n  return total;\n}\n' },
  { file: 'str.js', language: 'javascript', text: 'function capitalize(s) {\n  return s.charAt(0).toUpperCase() + s.slice(1);\n}\n' },
  { file: 'time.ts', language: 'typescript', text: 'export function debounce(fn: () => void, ms: number): () => void {\n  let timer: ReturnType<typeof setTimeout> | undefined;\n  return () => {\n    clearTimeout(timer);\n    timer = setTimeout(fn, ms);\n  };\n}\n' },
  { file: 'arr.ts', language: 'typescript', text: 'export function unique<T>(items: T[]): T[] {\n  return [...new Set(items)];\n}\n' },
];

async function explainAll(model: string | undefined): Promise<void> {
  const client = await LspClient.start(model ? ['--model', model] : [], {});
  try {
    await client.ready();
    console.log(model ?? 'the embedded default model');
    for (const sample of SAMPLES) {
      const uri = `file:///work/${sample.file}`;
      const [first, end] = sample.lines ?? [0, sample.text.split('\n').length - 1];
      client.open(uri, sample.text, sample.language);
      const result = await client.explain({ uri, range: { start: { line: first, character: 0 }, end: { line: end, character: 0 } }, maxTokens: 200 });
      client.close(uri);
      const name = sample.text.split('\n')[first].replace(/^(export )?(def |function )?/, '').replace(/[(<:].*$/, '');
      console.log(`  ${name.padEnd(14)} ${JSON.stringify(result.text)} (${result.finish})`);
    }
  } finally {
    await client.stop();
  }
}

async function main(): Promise<void> {
  const models = process.argv.slice(2);
  for (const model of models.length > 0 ? models : [undefined]) await explainAll(model);
}

main().catch((err: Error) => {
  console.error(`explain-everyday: ${err.message}`);
  process.exit(1);
});
