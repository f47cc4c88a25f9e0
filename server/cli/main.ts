// The tramontane command line: complete, tokenize, logits, serve, bench, demo.
import { Command, Option } from 'commander';
import { DEFAULT_HANG_LIMIT_MS } from '../backends/native';
import { DEFAULT_HTTP_MAX_TOKENS } from '../http/openai';
import { benchKeystrokesCommand, benchSoakCommand } from './bench';
import { completeCommand } from './complete';
import { demoCommand } from './demo';
import { logitsCommand } from './logits';
import { parseBackend, parseCount, parseNumber, parsePositive, parseTokenList } from './options';
import { serveCommand } from './serve';
import { tokenizeCommand } from './tokenize';

function engineOptions(command: Command): Command {
  return command
    .option('--model <path>', 'model folder (HF config.json or Mistral params.json), a .gguf file or a folder holding one; default: the embedded demo model')
    .addOption(new Option('--backend <name>', 'auto (CUDA when built with it and a GPU is present, else CPU), cpu or cuda').argParser(parseBackend).default('auto'))
    .option('--threads <n>', 'CPU threads (default: all cores)', parsePositive)
    .option('--sliding-window <n>', 'sliding window for a GGUF file that carries none (Mistral 7B v0.1: 4096)', parsePositive);
}

export function buildProgram(): Command {
  const program = new Command('tramontane')
    .description('Local code completion with a native engine for Mistral-architecture models')
    .showHelpAfterError(false)
    .configureOutput({ outputError: (text, write) => write(text.replace(/^error: /, 'tramontane: ')) });

  engineOptions(program.command('complete'))
    .description('stream a completion of PROMPT to stdout')
    .argument('<prompt>', 'text to complete')
    .option('--max-tokens <n>', 'most tokens to generate', parseCount, 128)
    .option('--temperature <t>', '0 = greedy', parseNumber, 0)
    .option('--top-k <k>', '0 = off', parseCount, 0)
    .option('--top-p <p>', '1 = off', parseNumber, 1)
    .option('--seed <n>', 'sampling seed', parseCount, 0)
    .option('--stop <text...>', 'stop before any of these strings', [])
    .option('--no-bos', 'do not start the prompt with <s>')
    .action((prompt: string, options) => completeCommand(prompt, options));

  engineOptions(program.command('tokenize'))
    .description('print the token ids of TEXT as JSON')
    .argument('<text>', 'text to tokenize')
    .option('--bos', 'start with <s>')
    .option('--special', 'parse control tokens such as [INST] written in the text')
    .action((text: string, options) => tokenizeCommand(text, options));

  engineOptions(program.command('logits'))
    .description('print {"logits": [[...], ...]}, one row per input position')
    .requiredOption('--tokens <ids>', 'comma-separated token ids', parseTokenList)
    .option('--chunk <n>', 'prefill chunk size', parsePositive)
    .option('--slack <n>', 'cache slots beyond the window', parseCount)
    .action((options) => logitsCommand(options));

  engineOptions(program.command('serve'))
    .description('run the language server (--stdio) and/or an OpenAI-compatible API (--http)')
    .option('--stdio', 'speak LSP on stdin/stdout')
    .option('--http <host:port>', 'serve /v1/completions and /v1/chat/completions on a loopback address')
    .option('--token-file <path>', 'file holding the bearer token the HTTP API requires (or set TRAMONTANE_HTTP_TOKEN)')
    .option('--token <secret>', 'the bearer token on the command line, where `ps` shows it to every user: prefer --token-file or TRAMONTANE_HTTP_TOKEN')
    .option('--no-auth', 'serve the HTTP API without a token: every local process can use it')
    .option('--allow-origin <origin...>', 'browser origins (e.g. http://localhost:3000) allowed to call the HTTP API; others are refused')
    .option('--allow-host <host:port...>', 'Host headers accepted besides the bound address, e.g. the local end of an SSH tunnel')
    .option('--max-tokens <n>', 'most tokens one HTTP request may generate', parsePositive, DEFAULT_HTTP_MAX_TOKENS)
    .option('--http-sessions <n>', 'HTTP API users whose caches stay warm at once (never the editor\'s)', parsePositive, 1)
    .option('--remote <url>', 'complete with a remote OpenAI-compatible server instead of --model')
    .option('--remote-token <secret>', 'bearer token for --remote (or TRAMONTANE_REMOTE_TOKEN)')
    .option('--remote-model <name>', 'model name sent to --remote')
    .addOption(new Option('--remote-fim <mode>', 'send the FIM prompt as rendered text, or as prompt + suffix').choices(['template', 'suffix']).default('template'))
    .option('--completion-sessions <n>', 'documents whose caches stay warm at once', parsePositive, 2)
    .option('--slack <n>', 'cache slots beyond the window (exact rollback distance)', parseCount)
    .option('--hang-limit <seconds>', `exit when an engine call makes no progress for this long (default ${DEFAULT_HANG_LIMIT_MS / 1000})`, parsePositive)
    .option('--context <n>', 'cache length for models without a sliding window', parsePositive)
    .action((options) => serveCommand(options));

  const bench = program.command('bench').description('measure Tramontane as it is used');
  engineOptions(bench.command('keystrokes'))
    .description('replay typing of a file through `serve --stdio`: latency, computed tokens, cache hits')
    .option('--file <path>', 'source file to type (default: the server\'s own LSP module)')
    .option('--chars <n>', 'characters to type', parsePositive, 200)
    .option('--line <n>', 'line to type at (default: 60% down the file)', parsePositive)
    .option('--interval <ms>', 'mean time between keystrokes', parseNumber, 120)
    .option('--max-tokens <n>', 'most tokens per suggestion', parsePositive, 32)
    .option('--context <n>', 'prompt token budget', parsePositive, 2048)
    .option('--template <name>', 'FIM template (auto, prefix-only, mistral, codellama, starcoder)', 'auto')
    .option('--seed <n>', 'seed of the typing rhythm', parseCount, 1)
    .option('--json', 'print the figures as JSON')
    .action((options) => benchKeystrokesCommand(options));

  engineOptions(bench.command('soak'))
    .description('rapid typing over several documents with a chat running, through `serve --stdio`: no crash, no text for a superseded request, flat memory')
    .option('--keystrokes <n>', 'keystrokes to type', parsePositive, 1000)
    .option('--documents <n>', 'documents to type in (the server\'s own sources)', parsePositive, 10)
    .option('--interval <ms>', 'mean time between keystrokes in a burst', parseNumber, 30)
    .option('--pause <ms>', 'pause after a burst of 10-60 keystrokes, before the next document', parseNumber, 800)
    .option('--no-chat', 'type without a chat running')
    .option('--max-tokens <n>', 'most tokens per suggestion', parsePositive, 32)
    .option('--seed <n>', 'seed of the typing rhythm', parseCount, 1)
    .option('--warmup <share>', 'share of the keystrokes before memory counts as warmed up', parseNumber, 0.5)
    .option('--rss-bound <MiB>', 'most the server\'s RSS may grow after warm-up', parseNumber, 24)
    .option('--json', 'print the figures as JSON')
    .action((options) => benchSoakCommand(options));

  engineOptions(program.command('demo'))
    .description('type a source file and show each suggestion as it streams (what `npm start` runs)')
    .option('--file <path>', 'source file to type (default: media/demo/inventory.py)')
    .option('--line <n>', 'line to start typing at (default: 60% down the file)', parsePositive)
    .option('--chars <n>', 'characters to type', parsePositive, 160)
    .option('--interval <ms>', 'mean time between keystrokes', parseNumber, 150)
    .option('--max-tokens <n>', 'most tokens per suggestion', parsePositive, 48)
    .action((options) => demoCommand(options));

  return program;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().exitOverride().parseAsync(argv);
    return 0;
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'commander.helpDisplayed' || code === 'commander.version') return 0;
    if (code?.startsWith('commander.')) return (error as { exitCode?: number }).exitCode ?? 1;
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`tramontane: ${message.split('\n')[0]}\n`);
    return 1;
  }
}

if (require.main === module) {
  main(process.argv).then((code) => {
    process.exitCode = code;
  });
}
