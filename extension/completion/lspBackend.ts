// Suggestions from the server: LSP 3.18 textDocument/inlineCompletion with a
// partialResultToken, whose $/progress values are snapshots of the whole suggestion so
// far (see server/protocol.ts).
import { randomUUID } from 'node:crypto';
import {
  InlineCompletionRequest,
  InlineCompletionTriggerKind,
  ProgressType,
  type CancellationToken,
  type InlineCompletionItem,
  type InlineCompletionList,
  type InlineCompletionParams,
} from 'vscode-languageserver-protocol';
import type { InlineCompletionPartial } from '../../server/protocol';
import type { CompletionBackend, SuggestionRequest } from './stream';

/** The part of the language client this needs (a LanguageClient satisfies it). */
export interface RequestSender {
  sendRequest<R>(method: string, params: unknown, token?: CancellationToken): Promise<R>;
  onProgress<P>(type: ProgressType<P>, token: string | number, handler: (params: P) => void): { dispose(): void };
}

/**
 * The text the first item inserts at the cursor. An item whose range starts before the
 * cursor on the same line repeats the text there; that part is dropped. Items for another
 * place are ignored.
 */
export function suggestionText(
  result: InlineCompletionItem[] | InlineCompletionList | null | undefined,
  request: Pick<SuggestionRequest, 'line' | 'character' | 'linePrefix'>,
): string | undefined {
  const lineBeforeCursor = request.linePrefix;
  const items = Array.isArray(result) ? result : (result?.items ?? []);
  for (const item of items) {
    const insert = typeof item.insertText === 'string' ? item.insertText : item.insertText.value;
    const start = item.range?.start;
    if (!start) return insert;
    if (start.line !== request.line || start.character > request.character) continue;
    const repeated = lineBeforeCursor.slice(lineBeforeCursor.length - (request.character - start.character));
    if (request.character - start.character > lineBeforeCursor.length || !insert.startsWith(repeated)) continue;
    const text = insert.slice(repeated.length);
    // An item that replaces closers after the cursor (auto-closed brackets, quotes) that
    // end its first line: the same text without them, before the closers already there.
    const end = item.range?.end;
    const replaced = end && end.line === request.line ? end.character - request.character : 0;
    if (replaced <= 0) return text;
    const firstLineEnd = text.includes('\n') ? text.indexOf('\n') : text.length;
    const tail = text.slice(firstLineEnd - replaced, firstLineEnd);
    if (!/^[)\]}>"'`]+$/.test(tail) || text.includes('\n')) continue;
    return text.slice(0, firstLineEnd - replaced);
  }
  return undefined;
}

export class LspCompletionBackend implements CompletionBackend {
  constructor(private readonly client: () => RequestSender | undefined) {}

  async complete(request: SuggestionRequest, onSnapshot: (text: string) => void, token: CancellationToken): Promise<string | undefined> {
    const client = this.client();
    if (!client) return undefined;
    const partialResultToken = randomUUID();
    const progress = client.onProgress(new ProgressType<InlineCompletionPartial>(), partialResultToken, (items) => {
      const text = suggestionText(items, request);
      if (text !== undefined) onSnapshot(text);
    });
    try {
      const params: InlineCompletionParams = {
        textDocument: { uri: request.uri },
        position: { line: request.line, character: request.character },
        context: {
          triggerKind: request.explicit ? InlineCompletionTriggerKind.Invoked : InlineCompletionTriggerKind.Automatic,
        },
        partialResultToken,
      };
      const result = await client.sendRequest<InlineCompletionItem[] | InlineCompletionList | null>(
        InlineCompletionRequest.method,
        params,
        token,
      );
      return suggestionText(result, request);
    } finally {
      progress.dispose();
    }
  }
}
