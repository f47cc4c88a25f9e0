// Chat and explain requests to the server, streamed: each $/progress value on the
// request's partialResultToken is a ChatChunk whose delta extends the answer.
import { randomUUID } from 'node:crypto';
import { ProgressType, type CancellationToken } from 'vscode-languageserver-protocol';
import {
  ChatRequest,
  ExplainRequest,
  type ChatChunk,
  type ChatParams,
  type ChatResult,
  type ExplainParams,
} from '../../server/protocol';
import type { RequestSender } from '../completion/lspBackend';

export type ChatStart = Omit<ChatParams, 'partialResultToken'>;
export type ExplainStart = Omit<ExplainParams, 'partialResultToken'>;

export interface ChatBackend {
  chat(params: ChatStart, onDelta: (text: string) => void, token: CancellationToken): Promise<ChatResult>;
  explain(params: ExplainStart, onDelta: (text: string) => void, token: CancellationToken): Promise<ChatResult>;
}

export class NotRunningError extends Error {
  constructor() {
    super('the server is not running');
    this.name = 'NotRunningError';
  }
}

export class LspChatBackend implements ChatBackend {
  constructor(private readonly client: () => RequestSender | undefined) {}

  chat(params: ChatStart, onDelta: (text: string) => void, token: CancellationToken): Promise<ChatResult> {
    return this.stream(ChatRequest, params, onDelta, token);
  }

  explain(params: ExplainStart, onDelta: (text: string) => void, token: CancellationToken): Promise<ChatResult> {
    return this.stream(ExplainRequest, params, onDelta, token);
  }

  private async stream(
    method: string,
    params: ChatStart | ExplainStart,
    onDelta: (text: string) => void,
    token: CancellationToken,
  ): Promise<ChatResult> {
    const client = this.client();
    if (!client) throw new NotRunningError();
    const partialResultToken = randomUUID();
    const progress = client.onProgress(new ProgressType<ChatChunk>(), partialResultToken, (chunk) => {
      if (chunk.delta) onDelta(chunk.delta);
    });
    try {
      return await client.sendRequest<ChatResult>(method, { ...params, partialResultToken }, token);
    } finally {
      progress.dispose();
    }
  }
}
