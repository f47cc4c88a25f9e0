// One inline-completion request from cursor to suggestion: the completion cache first,
// then the prompt, the backend's stream through the post-processor (which stops the
// engine as soon as the suggestion is complete), and a line in the stats.
import { performance } from 'node:perf_hooks';
import type { Position } from 'vscode-languageserver-protocol';
import type { Backend } from '../backends/backend';
import { PromptBuilder, type PromptDocument, type WindowMemo } from '../prompt/builder';
import { PromptFilter } from '../prompt/exclude';
import type { ContextSource } from '../prompt/extra';
import { resolveTemplate, stopTokenIds, type FimTemplate } from '../prompt/templates';
import type { CompletionOutcome, Settings } from '../protocol';
import type { StatsLog } from '../stats';
import { CompletionCache } from './cache';
import { completionMode, postProcess, type CursorContext } from './postprocess';

export interface CompletionInput {
  doc: PromptDocument;
  position: Position;
  /** Context from elsewhere, most useful first: definitions, edited documents, viewed chunks. */
  others: () => ContextSource[];
  /** Changes when the editor reports new context (see WindowMemo). */
  contextVersion?: number;
  /** Aborts when the client cancels the request. */
  signal: AbortSignal;
  /** Called with the whole suggestion so far whenever it grows. */
  onPartial?: (text: string, replace?: number) => void;
}

export type CompletionAnswer =
  /** `replace`: characters after the cursor (auto-closed brackets, quotes) the text replaces. */
  | { kind: 'suggestion'; text: string; replace?: number }
  | { kind: 'superseded' }
  | { kind: 'cancelled' };

export class CompletionService {
  readonly cache = new CompletionCache();
  private readonly memos = new Map<string, WindowMemo>();
  private readonly inFlight = new Map<string, AbortController>();
  private builder: PromptBuilder;
  private template: FimTemplate;
  private filter: PromptFilter;

  constructor(
    private readonly backend: Backend,
    private settings: Settings,
    private readonly stats: StatsLog,
  ) {
    this.template = resolveTemplate(settings.fimTemplate, backend.tokenizer, backend.autoTemplate);
    this.builder = this.makeBuilder();
    this.filter = new PromptFilter(settings.contextExclude, settings.enabledLanguages);
  }

  get templateName(): FimTemplate['name'] {
    return this.template.name;
  }

  private makeBuilder(): PromptBuilder {
    const total = Math.min(this.settings.contextTokens, this.backend.contextLimit - this.settings.maxTokens);
    return new PromptBuilder({
      template: this.template,
      tokenizer: this.backend.tokenizer,
      shares: { total: Math.max(total, 16), suffixShare: this.settings.suffixShare, extraShare: this.settings.extraShare },
    });
  }

  /** New settings apply to the next request; windows are placed afresh. */
  configure(settings: Settings): void {
    this.template = resolveTemplate(settings.fimTemplate, this.backend.tokenizer, this.backend.autoTemplate);
    this.settings = settings;
    this.builder = this.makeBuilder();
    this.filter = new PromptFilter(settings.contextExclude, settings.enabledLanguages);
    this.memos.clear();
    // Suggestions made under other settings (template, length, lines) are not these settings' suggestions.
    this.cache.clear();
  }

  forget(uri: string): void {
    this.memos.delete(uri);
    this.cache.forget(uri);
    this.inFlight.get(uri)?.abort();
  }

  async complete(input: CompletionInput): Promise<CompletionAnswer> {
    const started = performance.now();
    const { doc, position } = input;
    const record = {
      id: this.stats.newId(),
      uri: doc.uri,
      position,
      at: Date.now(),
      template: this.template.name,
      generatedTokens: 0,
    };
    const finish = (outcome: CompletionOutcome, text: string, extra: Partial<Parameters<StatsLog['add']>[0]> = {}) => {
      this.stats.add({ ...record, ...extra, outcome, totalMs: performance.now() - started, suggestionChars: text.length });
    };

    // The newest request for a document supersedes the one before it.
    this.inFlight.get(doc.uri)?.abort();
    const supersede = new AbortController();
    this.inFlight.set(doc.uri, supersede);
    const release = () => {
      if (this.inFlight.get(doc.uri) === supersede) this.inFlight.delete(doc.uri);
    };

    try {
      // A secrets file never goes into a prompt, not even its own.
      if (!this.filter.allows(doc.uri)) return { kind: 'suggestion', text: '' };
      const text = doc.getText();
      const offset = doc.offsetAt(position);
      const cached = this.cache.lookup(doc.uri, text, offset);
      if (cached !== undefined) {
        input.onPartial?.(cached.text, cached.replace);
        finish('cached', cached.text, { timeToFirstTokenMs: performance.now() - started });
        return { kind: 'suggestion', text: cached.text, replace: cached.replace };
      }

      const memo = this.memos.get(doc.uri) ?? {};
      this.memos.set(doc.uri, memo);
      const others = () => input.others().filter((source) => this.filter.allowsContext(source.uri, source.languageId));
      const prompt = this.builder.build(doc, position, others, memo, input.contextVersion);
      const ctx: CursorContext = {
        linePrefix: prompt.linePrefix,
        lineSuffix: prompt.lineSuffix,
        after: prompt.after,
        maxLines: this.settings.maxLines,
      };
      const enough = new AbortController();
      const signal = AbortSignal.any([input.signal, supersede.signal, enough.signal]);
      let raw = '';
      let shown = '';
      let firstTokenMs: number | undefined;
      const run = await this.backend.complete({
        key: doc.uri,
        tokens: prompt.tokens,
        text: prompt.text,
        fim: { prefix: prompt.extra + prompt.prefix, suffix: prompt.suffix },
        heal: prompt.healable,
        maxTokens: this.settings.maxTokens,
        temperature: this.settings.temperature,
        stop: completionMode(ctx) === 'single-line' ? ['\n'] : [],
        stopTokens: this.backend.tokenizer ? stopTokenIds(this.template, this.backend.tokenizer) : [],
        signal,
        onText: (piece) => {
          if (enough.signal.aborted) return;
          firstTokenMs ??= performance.now() - started;
          raw += piece;
          const processed = postProcess(raw, ctx, false);
          if (processed.text !== shown && processed.text.trim() !== '') {
            shown = processed.text;
            input.onPartial?.(shown);
          }
          if (processed.done) enough.abort();
        },
      });
      const costs = {
        promptTokens: run.promptTokens,
        reusedTokens: run.reusedTokens,
        computedTokens: run.computedTokens,
        generatedTokens: run.generatedTokens,
        steps: run.steps,
        draftedTokens: run.draftedTokens,
        acceptedTokens: run.acceptedTokens,
        timeToFirstTokenMs: firstTokenMs,
      };
      if (input.signal.aborted) {
        finish('cancelled', '', costs);
        return { kind: 'cancelled' };
      }
      if (supersede.signal.aborted) {
        finish('superseded', '', costs);
        return { kind: 'superseded' };
      }
      const final = postProcess(raw, ctx, true);
      const outcome: CompletionOutcome = final.reason === 'max-lines' || (run.finish === 'length' && !final.done) ? 'length' : 'complete';
      this.cache.store(doc.uri, text, offset, final.text);
      finish(outcome, final.text, costs);
      return { kind: 'suggestion', text: final.text };
    } catch (error) {
      if (input.signal.aborted) {
        finish('cancelled', '');
        return { kind: 'cancelled' };
      }
      if (supersede.signal.aborted) {
        finish('superseded', '');
        return { kind: 'superseded' };
      }
      finish('error', '');
      throw error;
    } finally {
      release();
    }
  }
}
