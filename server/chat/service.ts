// Chat and explain: a conversation (with the code it is about) streamed from the
// backend's chat session, which never touches the completion caches.
import { performance } from 'node:perf_hooks';
import type { Range } from 'vscode-languageserver-protocol';
import type { TextDocument } from 'vscode-languageserver-textdocument';
import type { Backend } from '../backends/backend';
import { explainQuestion, fencedCode, selectedLines, validateConversation } from '../prompt/chat';
import { PromptFilter } from '../prompt/exclude';
import { findLoop } from './repetition';
import type { ChatMessage, ChatParams, ChatResult, CodeContext, ExplainParams, Settings } from '../protocol';

export interface ChatStream {
  signal: AbortSignal;
  onDelta: (delta: string) => void;
}

// Code attached to a question is clipped to about this many characters (4 per token).
const CODE_CHARS_PER_TOKEN = 4;

export interface ChatCounts {
  answers: number;
  /** Answers stopped because they repeated themselves. */
  repetitionStops: number;
}

export class ChatService {
  private filter: PromptFilter;
  readonly counts: ChatCounts = { answers: 0, repetitionStops: 0 };

  constructor(
    private readonly backend: Backend,
    private settings: Settings,
    private readonly document: (uri: string) => TextDocument | undefined,
  ) {
    this.filter = new PromptFilter(settings.contextExclude);
  }

  configure(settings: Settings): void {
    this.settings = settings;
    this.filter = new PromptFilter(settings.contextExclude);
  }

  /** The code a context names, fenced with its language, or an error for an unknown document. */
  private codeBlock(context: CodeContext): string {
    const doc = this.document(context.uri);
    if (!doc) throw new Error(`unknown document ${context.uri}: open it with textDocument/didOpen first`);
    if (!this.filter.allows(context.uri)) {
      throw new Error(`${context.uri.replace(/^.*\//, '')} is kept out of prompts (secrets, or tramontane.context.exclude): its text is not sent`);
    }
    const range: Range | undefined = context.range;
    let code = range ? doc.getText(range) : doc.getText();
    const limit = Math.floor(this.settings.contextTokens * CODE_CHARS_PER_TOKEN * 0.75);
    if (code.length > limit) code = code.slice(0, limit) + '\n…';
    const language = context.languageId ?? doc.languageId;
    const name = context.uri.replace(/^.*\//, '');
    return fencedCode(name, range && selectedLines(range), language, code);
  }

  async chat(params: ChatParams, stream: ChatStream): Promise<ChatResult> {
    validateConversation(params.messages);
    let messages: ChatMessage[] = params.messages;
    if (params.context) {
      const last = messages.at(-1)!;
      messages = [...messages.slice(0, -1), { role: 'user', content: `${last.content}\n\n${this.codeBlock(params.context)}` }];
    }
    return this.run(messages, params.system, params.maxTokens ?? this.settings.chatMaxTokens, params.temperature ?? this.settings.chatTemperature, stream);
  }

  async explain(params: ExplainParams, stream: ChatStream): Promise<ChatResult> {
    const doc = this.document(params.uri);
    const language = doc?.languageId ?? 'code';
    const code = this.codeBlock({ uri: params.uri, range: params.range });
    return this.run([{ role: 'user', content: explainQuestion(language, code) }], undefined, params.maxTokens ?? this.settings.chatMaxTokens, this.settings.chatTemperature, stream);
  }

  private async run(messages: ChatMessage[], system: string | undefined, maxTokens: number, temperature: number, stream: ChatStream): Promise<ChatResult> {
    const started = performance.now();
    let text = '';
    let firstTokenMs: number | undefined;
    let looped = false;
    const guard = new AbortController();
    const run = await this.backend.chat({
      messages,
      system,
      maxTokens,
      temperature,
      signal: AbortSignal.any([stream.signal, guard.signal]),
      onText: (piece) => {
        if (looped) return;
        firstTokenMs ??= performance.now() - started;
        text += piece;
        stream.onDelta(piece);
        const keep = findLoop(text);
        if (keep !== undefined) {
          looped = true;
          text = text.slice(0, keep);
          guard.abort();
        }
      },
    });
    this.counts.answers++;
    if (looped && !stream.signal.aborted) this.counts.repetitionStops++;
    return {
      text: looped ? text : (run.text ?? text),
      finish: looped && !stream.signal.aborted ? 'repetition' : run.finish,
      promptTokens: run.promptTokens,
      generatedTokens: run.generatedTokens,
      timeToFirstTokenMs: firstTokenMs,
      totalMs: performance.now() - started,
    };
  }
}
