// The chat webview's page. Its Content-Security-Policy allows only the extension's own
// script and stylesheet (by nonce and by the webview's resource origin) and nothing
// remote: even if model text got past the sanitiser, it could neither run script nor
// load anything.
import { randomBytes } from 'node:crypto';

export interface ChatPageResources {
  /** webview.cspSource: the origin the webview serves extension files from. */
  cspSource: string;
  scriptUri: string;
  styleUri: string;
  nonce?: string;
}

export function makeNonce(): string {
  return randomBytes(18).toString('base64url');
}

export function contentSecurityPolicy(cspSource: string, nonce: string): string {
  return [
    "default-src 'none'",
    `style-src ${cspSource} 'nonce-${nonce}'`,
    `script-src 'nonce-${nonce}'`,
    `font-src ${cspSource}`,
    `img-src ${cspSource}`,
    "connect-src 'none'",
    "frame-src 'none'",
    "form-action 'none'",
    "base-uri 'none'",
  ].join('; ');
}

function attr(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
}

export function chatPage(resources: ChatPageResources): string {
  const nonce = resources.nonce ?? makeNonce();
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${attr(contentSecurityPolicy(resources.cspSource, nonce))}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" nonce="${nonce}" href="${attr(resources.styleUri)}">
<title>Tramontane chat</title>
</head>
<body>
<header class="toolbar">
  <span id="status" class="status" role="status"></span>
</header>
<p id="model-note" class="model-note" role="note" hidden></p>
<main id="messages" class="messages" aria-live="polite"></main>
<footer class="composer">
  <label class="context" title="Send the selected code (or the whole file when nothing is selected) with the question">
    <input id="include-context" type="checkbox" checked>
    <span id="context-label">No editor open</span>
  </label>
  <textarea id="input" rows="3" placeholder="Ask about your code (Enter to send, Shift+Enter for a new line)" aria-label="Message"></textarea>
  <div class="actions">
    <button id="stop" class="secondary" hidden>Stop</button>
    <button id="send">Send</button>
  </div>
</footer>
<script nonce="${nonce}" src="${attr(resources.scriptUri)}"></script>
</body>
</html>`;
}
