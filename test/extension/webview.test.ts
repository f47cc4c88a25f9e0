// The chat panel's script in a DOM (jsdom, on the real page the extension serves): how it
// streams an answer, what its buttons and keys send to the extension, and that nothing in
// a message can add markup or script to the page.
import assert from 'node:assert/strict';
import { before, beforeEach, describe, it } from 'node:test';
import { JSDOM } from 'jsdom';
import { chatPage } from '../../extension/chat/html';
import type { HostToView, ViewToHost } from '../../extension/chat/messages';

const page = chatPage({ cspSource: 'https://x', scriptUri: 'https://x/webview.js', styleUri: 'https://x/chat.css', nonce: 'n' });
// The page without its script tag: the script is imported below, into this DOM.
const dom = new JSDOM(page.replace(/<script[^>]*><\/script>/, ''), { pretendToBeVisual: true });
const sent: ViewToHost[] = [];

const g = globalThis as Record<string, unknown>;
g.window = dom.window;
g.document = dom.window.document;
g.requestAnimationFrame = (callback: () => void) => dom.window.requestAnimationFrame(callback);
g.acquireVsCodeApi = () => ({ postMessage: (message: ViewToHost) => sent.push(message) });

const doc = dom.window.document;
const $ = (selector: string) => doc.querySelector(selector) as HTMLElement;
const frame = () => new Promise((resolve) => dom.window.requestAnimationFrame(() => resolve(undefined)));

function host(message: HostToView): void {
  dom.window.dispatchEvent(new dom.window.MessageEvent('message', { data: message }));
}

describe('chat webview script', () => {
  let atLoad: ViewToHost[] = [];
  before(async () => {
    await import('../../extension/webview/main');
    atLoad = [...sent];
  });

  beforeEach(() => {
    host({ type: 'history', messages: [], busy: false });
    sent.length = 0;
  });

  it('tells the extension it is ready, then shows the history it sends', () => {
    assert.deepEqual(atLoad, [{ type: 'ready' }]);
    host({ type: 'history', messages: [{ id: 'u', role: 'user', content: 'hi' }, { id: 'v', role: 'assistant', content: '*yes*' }], busy: false });
    assert.equal($('#messages').querySelectorAll('.message').length, 2);
    assert.equal(doc.querySelector('article[data-id="v"] .body em')?.textContent, 'yes');
  });

  it('shows a hint when the conversation is empty', () => {
    assert.match($('#messages').textContent ?? '', /Explain Selection/);
  });

  it('streams an answer: deltas render as markdown, the final text replaces them', async () => {
    host({ type: 'append', message: { id: 'a', role: 'assistant', content: '', pending: true } });
    const answer = () => doc.querySelector('article[data-id="a"]') as HTMLElement;
    assert.ok(answer().classList.contains('pending'));
    host({ type: 'delta', id: 'a', delta: 'Use **math' });
    host({ type: 'delta', id: 'a', delta: '.pi**' });
    await frame();
    assert.equal(answer().querySelector('.body strong')?.textContent, 'math.pi');
    host({ type: 'delta', id: 'a', delta: ' twice' });
    await frame();
    assert.match(answer().querySelector('.body')?.textContent ?? '', /math\.pi twice/);
    host({ type: 'done', id: 'a', content: 'Use `math.pi`.', note: 'Stopped.' });
    assert.ok(!answer().classList.contains('pending'));
    assert.equal(answer().querySelector('.body code')?.textContent, 'math.pi');
    assert.equal(answer().querySelector('.note')?.textContent, 'Stopped.');
  });

  it('renders hostile deltas inert', async () => {
    host({ type: 'append', message: { id: 'h', role: 'assistant', content: '', pending: true } });
    host({ type: 'delta', id: 'h', delta: '<img src=x onerror="parent.pwned=1"><script>parent.pwned=1</script>[x](javascript:alert(1))' });
    await frame();
    const body = doc.querySelector('article[data-id="h"] .body')!;
    assert.equal(body.querySelector('script, img, [onerror]'), null);
    assert.equal(body.querySelector('a'), null);
    assert.equal((dom.window as unknown as { pwned?: number }).pwned, undefined);
  });

  it("shows the user's text as text, markup included", () => {
    host({ type: 'append', message: { id: 'u2', role: 'user', content: '<b>bold?</b> **no**', contextLabel: 'a.ts:1-3' } });
    const item = doc.querySelector('article[data-id="u2"]')!;
    assert.equal(item.querySelector('b'), null);
    assert.equal(item.querySelector('.body')?.textContent, '<b>bold?</b> **no**');
    assert.equal(item.querySelector('.chip')?.textContent, 'a.ts:1-3');
  });

  it('gives code blocks Copy and Insert buttons that send the code', () => {
    host({ type: 'append', message: { id: 'c', role: 'assistant', content: 'Here:\n\n```python\nprint("hi")\n```' } });
    const buttons = doc.querySelectorAll('article[data-id="c"] pre .code-action');
    assert.equal(buttons.length, 2);
    (buttons[0] as HTMLElement).click();
    (buttons[1] as HTMLElement).click();
    assert.deepEqual(sent, [
      { type: 'copy', code: 'print("hi")\n' },
      { type: 'insert', code: 'print("hi")\n' },
    ]);
  });

  it('opens links through the extension instead of navigating', () => {
    host({ type: 'append', message: { id: 'l', role: 'assistant', content: 'See [the docs](https://example.com/x).' } });
    const link = doc.querySelector('article[data-id="l"] a') as HTMLAnchorElement;
    const event = new dom.window.MouseEvent('click', { bubbles: true, cancelable: true });
    link.dispatchEvent(event);
    assert.ok(event.defaultPrevented);
    assert.deepEqual(sent, [{ type: 'openLink', href: 'https://example.com/x' }]);
  });

  it('sends on Enter with the context switch, keeps Shift+Enter for new lines', () => {
    host({ type: 'context', label: 'selection a.py:2-4' });
    const input = $('#input') as HTMLTextAreaElement;
    input.value = 'why?';
    input.dispatchEvent(new dom.window.KeyboardEvent('keydown', { key: 'Enter', shiftKey: true, cancelable: true }));
    assert.deepEqual(sent, []);
    input.dispatchEvent(new dom.window.KeyboardEvent('keydown', { key: 'Enter', cancelable: true }));
    assert.deepEqual(sent, [{ type: 'send', text: 'why?', includeContext: true }]);
    assert.equal(input.value, '');
    assert.equal($('#context-label').textContent, 'Include selection a.py:2-4');
  });

  it('sends without context when there is no editor or the box is unticked', () => {
    host({ type: 'context' });
    const input = $('#input') as HTMLTextAreaElement;
    input.value = 'general question';
    ($('#send') as HTMLButtonElement).click();
    assert.deepEqual(sent, [{ type: 'send', text: 'general question', includeContext: false }]);
  });

  it('while busy: shows Stop, which asks to stop, and does not send', () => {
    host({ type: 'busy', busy: true });
    assert.equal(($('#stop') as HTMLButtonElement).hidden, false);
    const input = $('#input') as HTMLTextAreaElement;
    input.value = 'another';
    input.dispatchEvent(new dom.window.KeyboardEvent('keydown', { key: 'Enter', cancelable: true }));
    ($('#stop') as HTMLButtonElement).click();
    assert.deepEqual(sent, [{ type: 'stop' }]);
    host({ type: 'busy', busy: false });
    assert.equal(($('#stop') as HTMLButtonElement).hidden, true);
  });

  it("shows the model's note under the status while the status carries one, as text", () => {
    const note = $('#model-note');
    host({ type: 'status', text: 'demo model · CPU', ready: true, note: 'Small <b>demo</b> model.' });
    assert.equal($('#status').textContent, 'demo model · CPU');
    assert.equal(note.hidden, false);
    assert.equal(note.textContent, 'Small <b>demo</b> model.');
    assert.equal(note.querySelector('b'), null, 'no markup from a note');
    host({ type: 'status', text: 'Mistral-7B · CUDA', ready: true });
    assert.equal(note.hidden, true);
    assert.equal(note.textContent, '');
  });

  it('picks up an answer that was already streaming when the panel opened', async () => {
    host({ type: 'history', messages: [{ id: 'p', role: 'assistant', content: 'Half', pending: true }], busy: true });
    host({ type: 'delta', id: 'p', delta: ' done' });
    await frame();
    assert.equal(doc.querySelector('article[data-id="p"] .body')?.textContent?.trim(), 'Half done');
  });
});
