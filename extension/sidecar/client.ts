// The language client for the server, minus its built-in inline-completion provider:
// ghost text goes through Tramontane's own provider, which streams partial results and
// serves typed-through suggestions without a round trip (completion/provider.ts).
import { InlineCompletionRequest } from 'vscode-languageserver-protocol';
import { LanguageClient, type DynamicFeature, type StaticFeature } from 'vscode-languageclient/node';

function isInlineCompletionFeature(feature: StaticFeature | DynamicFeature<unknown>): boolean {
  const registration = (feature as Partial<DynamicFeature<unknown>>).registrationType;
  return registration?.method === InlineCompletionRequest.method;
}

export class SidecarClient extends LanguageClient {
  /** Errors go to the log only: the extension tells the user itself, once, with actions. */
  override error(message: string, data?: unknown): void {
    super.error(message, data, false);
  }

  override registerFeature(feature: StaticFeature | DynamicFeature<unknown>): void {
    if (isInlineCompletionFeature(feature)) return;
    super.registerFeature(feature);
  }
}
