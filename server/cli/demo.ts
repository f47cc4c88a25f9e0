// tramontane demo (`npm start`): replays typing a source file through a real
// `serve --stdio` process and draws each suggestion as it streams, like ghost text,
// then prints the per-keystroke latency and cache-reuse figures.
import fs from 'node:fs';
import path from 'node:path';
import { benchKeystrokes, formatReport, type KeystrokeBenchOptions, type KeystrokeObserver } from '../bench/keystrokes';
import { replayServer } from './bench';
import { defaultModelDir, resolveModelDir, type EngineOptions } from './options';

export interface DemoOptions extends EngineOptions {
  file?: string;
  line?: number;
  chars: number;
  interval: number;
  maxTokens: number;
}

const DIM = '\x1b[2m';
const RESET = '\x1b[0m';
const CLEAR_LINE = '\r\x1b[2K';

/** Finds media/demo/inventory.py above the bundle (dist/) or the source (server/cli/). */
function sampleFile(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'media', 'demo', 'inventory.py');
    if (fs.existsSync(candidate)) return candidate;
    if (path.dirname(dir) === dir) throw new Error('demo sample media/demo/inventory.py not found: pass --file');
  }
}

/** Terminal columns a character takes: East Asian wide and emoji take two. */
function columns(ch: string): number {
  const code = ch.codePointAt(0)!;
  if (code < 0x20) return 0;
  return code >= 0x1100 && /[\p{Script=Han}\p{Script=Hangul}\p{Script=Hiragana}\p{Script=Katakana}\p{Extended_Pictographic}\u3000-\u303f\uff00-\uffef]/u.test(ch) ? 2 : 1;
}

/** Cuts text to at most `width` terminal columns, so a redraw never wraps. */
function fit(text: string, width: number): string {
  let used = 0;
  let out = '';
  for (const ch of text) {
    used += columns(ch);
    if (used > width) return out + '…';
    out += ch;
  }
  return out;
}

/** Draws the line being typed with its suggestion dimmed after the cursor. */
function terminalObserver(out: NodeJS.WriteStream): KeystrokeObserver {
  const width = () => Math.max(20, (out.columns ?? 100) - 2);
  let line = '';
  const draw = (suggestion: string) => {
    const typed = fit(line, width());
    const firstLine = suggestion.split('\n')[0] + (suggestion.includes('\n') ? ' ⏎…' : '');
    const room = width() - [...typed].reduce((n, ch) => n + columns(ch), 0);
    out.write(`${CLEAR_LINE}${typed}${DIM}${room > 1 ? fit(firstLine, room - 1) : ''}${RESET}`);
  };
  return {
    typed(lineBeforeCursor) {
      if (lineBeforeCursor === '' && line !== '') out.write(`${CLEAR_LINE}${fit(line, width())}\n`);
      line = lineBeforeCursor;
      draw('');
    },
    suggestion: draw,
    answered: draw,
  };
}

/** Without a terminal: one line per answered keystroke. */
function plainObserver(out: NodeJS.WritableStream): KeystrokeObserver {
  let line = '';
  return {
    typed(lineBeforeCursor) {
      line = lineBeforeCursor;
    },
    answered(text, ms) {
      out.write(`${JSON.stringify(line)} → ${JSON.stringify(text)}  (${ms.toFixed(0)} ms)\n`);
    },
  };
}

export async function demoCommand(options: DemoOptions): Promise<void> {
  const modelDir = resolveModelDir(options.model);
  const file = path.resolve(options.file ?? sampleFile());
  const out = process.stdout;
  if (!options.model && modelDir === defaultModelDir()) {
    out.write(
      'Using the embedded demo model: a small model trained for this demo, not a real assistant.\n' +
        'For real completions pass --model with a Mistral-architecture folder (config.json or params.json + safetensors) or a .gguf file.\n\n',
    );
  }
  out.write(`Typing ${path.basename(file)}; suggestions appear dimmed after the cursor.\n\n`);
  const benchOptions: KeystrokeBenchOptions = {
    ...replayServer(modelDir, options),
    file,
    chars: options.chars,
    line: options.line === undefined ? undefined : options.line - 1,
    intervalMs: options.interval,
    settings: { maxTokens: options.maxTokens },
    seed: 1,
    observer: out.isTTY ? terminalObserver(out) : plainObserver(out),
  };
  const report = await benchKeystrokes(benchOptions);
  out.write('\n\n' + formatReport(report, benchOptions) + '\n');
}
