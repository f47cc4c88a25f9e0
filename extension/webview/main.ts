// The chat panel's script (runs in the webview, bundled for the browser). It only ever
// puts model text into the page through the sanitising renderer; buttons it adds to code
// blocks are built with DOM calls, never from HTML strings.
import type { HostToView, ViewMessage, ViewToHost } from '../chat/messages';
import { createRenderer } from './markdown';

declare function acquireVsCodeApi(): { postMessage(message: ViewToHost): void };

const vscode = acquireVsCodeApi();
const render = createRenderer(window);

const list = document.getElementById('messages') as HTMLElement;
const input = document.getElementById('input') as HTMLTextAreaElement;
const sendButton = document.getElementById('send') as HTMLButtonElement;
const stopButton = document.getElementById('stop') as HTMLButtonElement;
const includeContext = document.getElementById('include-context') as HTMLInputElement;
const contextLabel = document.getElementById('context-label') as HTMLElement;
const status = document.getElementById('status') as HTMLElement;
const modelNote = document.getElementById('model-note') as HTMLElement;

const post = (message: ViewToHost) => vscode.postMessage(message);

/** Answers being streamed: their text so far, rendered at most once per frame. */
const streaming = new Map<string, { content: string; body: HTMLElement; scheduled: boolean }>();
let busy = false;

function setBusy(value: boolean): void {
  busy = value;
  stopButton.hidden = !value;
  sendButton.disabled = value;
  document.body.classList.toggle('busy', value);
}

function empty(): void {
  if (list.children.length > 0) return;
  const hint = document.createElement('p');
  hint.className = 'empty';
  hint.textContent = 'Ask a question about your code, or select code and run "Tramontane: Explain Selection".';
  list.append(hint);
}

function scrollToEnd(): void {
  list.scrollTop = list.scrollHeight;
}

function renderBody(body: HTMLElement, role: ViewMessage['role'], content: string): void {
  if (role === 'user') {
    body.textContent = content;
    return;
  }
  body.innerHTML = render(content);
  for (const pre of Array.from(body.querySelectorAll('pre'))) decorateCode(pre);
}

/** Adds "Copy" and "Insert" to a rendered code block. */
function decorateCode(pre: HTMLPreElement): void {
  const code = pre.querySelector('code');
  if (!code) return;
  const bar = document.createElement('div');
  bar.className = 'code-actions';
  for (const [label, type] of [
    ['Copy', 'copy'],
    ['Insert', 'insert'],
  ] as const) {
    const button = document.createElement('button');
    button.className = `code-action ${type}`;
    button.textContent = label;
    button.title = type === 'copy' ? 'Copy to the clipboard' : 'Insert at the cursor in the editor';
    button.addEventListener('click', () => post({ type, code: code.textContent ?? '' }));
    bar.append(button);
  }
  pre.classList.add('has-actions');
  pre.prepend(bar);
}

function append(message: ViewMessage): void {
  list.querySelector('.empty')?.remove();
  const item = document.createElement('article');
  item.className = `message ${message.role}`;
  item.dataset.id = message.id;
  const who = document.createElement('div');
  who.className = 'who';
  who.textContent = message.role === 'user' ? 'You' : 'Tramontane';
  item.append(who);
  if (message.contextLabel) {
    const chip = document.createElement('div');
    chip.className = 'chip';
    chip.textContent = message.contextLabel;
    item.append(chip);
  }
  const body = document.createElement('div');
  body.className = 'body';
  renderBody(body, message.role, message.content);
  item.append(body);
  if (message.pending) {
    item.classList.add('pending');
    streaming.set(message.id, { content: message.content, body, scheduled: false });
  }
  if (message.note) addNote(item, message.note);
  list.append(item);
  scrollToEnd();
}

function addNote(item: Element, note: string): void {
  const el = document.createElement('div');
  el.className = 'note';
  el.textContent = note;
  item.append(el);
}

function delta(id: string, text: string): void {
  const entry = streaming.get(id);
  if (!entry) return;
  entry.content += text;
  if (entry.scheduled) return;
  entry.scheduled = true;
  requestAnimationFrame(() => {
    entry.scheduled = false;
    const atEnd = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    renderBody(entry.body, 'assistant', entry.content);
    if (atEnd) scrollToEnd();
  });
}

function done(id: string, content: string | undefined, note?: string): void {
  const entry = streaming.get(id);
  streaming.delete(id);
  const item = Array.from(list.querySelectorAll('article')).find((a) => a.dataset.id === id);
  if (!item) return;
  item.classList.remove('pending');
  if (entry) renderBody(entry.body, 'assistant', content ?? entry.content);
  if (note) addNote(item, note);
  scrollToEnd();
}

window.addEventListener('message', (event: MessageEvent<HostToView>) => {
  const message = event.data;
  switch (message.type) {
    case 'history':
      list.replaceChildren();
      streaming.clear();
      for (const m of message.messages) append(m);
      empty();
      setBusy(message.busy);
      break;
    case 'append':
      append(message.message);
      break;
    case 'delta':
      delta(message.id, message.delta);
      break;
    case 'done':
      done(message.id, message.content, message.note);
      break;
    case 'busy':
      setBusy(message.busy);
      break;
    case 'context':
      contextLabel.textContent = message.label ? `Include ${message.label}` : 'No editor open';
      includeContext.disabled = !message.label;
      break;
    case 'status':
      status.textContent = message.text;
      status.classList.toggle('ready', message.ready);
      modelNote.textContent = message.note ?? '';
      modelNote.hidden = !message.note;
      break;
  }
});

function send(): void {
  const text = input.value.trim();
  if (!text || busy) return;
  post({ type: 'send', text, includeContext: includeContext.checked && !includeContext.disabled });
  input.value = '';
}

sendButton.addEventListener('click', send);
stopButton.addEventListener('click', () => post({ type: 'stop' }));
input.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    send();
  }
});
// Links open in the user's browser through the extension, which checks the scheme again.
list.addEventListener('click', (event) => {
  const link = (event.target as Element | null)?.closest('a');
  if (!link) return;
  event.preventDefault();
  const href = link.getAttribute('href');
  if (href) post({ type: 'openLink', href });
});

post({ type: 'ready' });
