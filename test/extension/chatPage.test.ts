// The chat webview's page: a CSP that lets only the extension's own nonce'd script and
// stylesheet in, and nothing remote.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { JSDOM } from 'jsdom';
import { chatPage, contentSecurityPolicy, makeNonce } from '../../extension/chat/html';

const resources = {
  cspSource: 'https://file+.vscode-resource.vscode-cdn.net',
  scriptUri: 'https://file+.vscode-resource.vscode-cdn.net/ext/dist/webview.js',
  styleUri: 'https://file+.vscode-resource.vscode-cdn.net/ext/media/chat.css',
  nonce: 'abc123',
};

function directives(csp: string): Map<string, string[]> {
  return new Map(csp.split(';').map((d) => d.trim().split(/\s+/)).map(([name, ...values]) => [name, values]));
}

describe('chat page', () => {
  const document = new JSDOM(chatPage(resources)).window.document;
  const csp = document.querySelector('meta[http-equiv="Content-Security-Policy"]')?.getAttribute('content') ?? '';
  const policy = directives(csp);

  it('denies everything by default', () => {
    assert.deepEqual(policy.get('default-src'), ["'none'"]);
    assert.deepEqual(policy.get('connect-src'), ["'none'"]);
    assert.deepEqual(policy.get('frame-src'), ["'none'"]);
  });

  it("runs only the nonce'd script: no inline script, no eval, no other origin", () => {
    assert.deepEqual(policy.get('script-src'), ["'nonce-abc123'"]);
    const scripts = [...document.querySelectorAll('script')];
    assert.equal(scripts.length, 1);
    assert.equal(scripts[0].getAttribute('nonce'), 'abc123');
    assert.equal(scripts[0].getAttribute('src'), resources.scriptUri);
    assert.equal(scripts[0].textContent, '');
  });

  it('loads styles, fonts and images only from the extension', () => {
    assert.deepEqual(policy.get('style-src'), [resources.cspSource, "'nonce-abc123'"]);
    assert.deepEqual(policy.get('img-src'), [resources.cspSource]);
    assert.deepEqual(policy.get('font-src'), [resources.cspSource]);
    for (const values of policy.values()) {
      assert.ok(!values.includes("'unsafe-inline'") && !values.includes("'unsafe-eval'") && !values.includes('*') && !values.includes('https:'));
    }
  });

  it('has the elements the script drives', () => {
    for (const id of ['messages', 'input', 'send', 'stop', 'include-context', 'context-label', 'status', 'model-note']) {
      assert.ok(document.getElementById(id), `#${id}`);
    }
  });

  it('makes a fresh, unguessable nonce each time', () => {
    const nonces = new Set(Array.from({ length: 50 }, makeNonce));
    assert.equal(nonces.size, 50);
    for (const n of nonces) assert.match(n, /^[A-Za-z0-9_-]{24}$/);
    assert.match(contentSecurityPolicy('x', 'n'), /script-src 'nonce-n'/);
  });
});
