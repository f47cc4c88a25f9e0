// The inline-completion controller: what VS Code is given for each request while a
// suggestion streams in, when the server is asked again (and when it is not), and that
// cancellation reaches the server. A scripted backend plays the server, so every
// interleaving of snapshots, keystrokes and cancellations is exact.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { CancellationTokenSource, type CancellationToken } from 'vscode-jsonrpc';
import { InlineCompletionController, type ControllerOptions, type DocumentState } from '../../extension/completion/controller';
import type { CompletionBackend, SuggestionRequest } from '../../extension/completion/stream';

interface Call {
  request: SuggestionRequest;
  token: CancellationToken;
  snapshot(text: string): void;
  finish(text?: string): void;
  fail(error: Error): void;
}

class ScriptedBackend implements CompletionBackend {
  readonly calls: Call[] = [];
  private waiters: ((call: Call) => void)[] = [];

  complete(request: SuggestionRequest, onSnapshot: (text: string) => void, token: CancellationToken): Promise<string | undefined> {
    return new Promise((resolve, reject) => {
      const call: Call = {
        request,
        token,
        snapshot: onSnapshot,
        finish: (text) => resolve(text),
        fail: reject,
      };
      token.onCancellationRequested(() => reject(new Error('cancelled')));
      this.calls.push(call);
      for (const waiter of this.waiters.splice(0)) waiter(call);
    });
  }

  /** The next call (or the latest one, if it already came). */
  next(): Promise<Call> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

function doc(text: string, offset = text.length, explicit = false): DocumentState {
  const before = text.slice(0, offset);
  const line = before.split('\n').length - 1;
  const character = offset - (before.lastIndexOf('\n') + 1);
  return { uri: 'file:///a.py', text, offset, line, character, explicit };
}

/** The document after typing `typed` at the end of `base` (cursor after it). */
function typedAt(base: string, typed: string, after = ''): DocumentState {
  return doc(base + typed + after, base.length + typed.length);
}

const BASE = 'def area(r):\n    ';

let controllers: InlineCompletionController[] = [];
function make(backend: CompletionBackend, overrides: Partial<ControllerOptions> = {}) {
  const refreshes: string[] = [];
  const errors: unknown[] = [];
  const activity: boolean[] = [];
  const controller = new InlineCompletionController(backend, {
    debounceMs: () => 0,
    orphanGraceMs: 50,
    refreshMs: 0,
    refresh: (uri) => refreshes.push(uri),
    onError: (e) => errors.push(e),
    onActivity: (a) => activity.push(a),
    ...overrides,
  });
  controllers.push(controller);
  return { controller, refreshes, errors, activity };
}

afterEach(() => {
  for (const c of controllers) c.dispose();
  controllers = [];
});

describe('inline completion controller', () => {
  it('asks the server with the cursor position and the line up to it', async () => {
    const backend = new ScriptedBackend();
    const { controller } = make(backend);
    const pending = controller.provide(doc(BASE), new CancellationTokenSource().token);
    const call = await backend.next();
    assert.deepEqual(call.request, { uri: 'file:///a.py', line: 1, character: 4, linePrefix: '    ', explicit: false });
    call.finish('return r');
    assert.deepEqual(await pending, { text: 'return r', outcome: 'new' });
  });

  it('shows nothing before the first line is complete, then whole lines only', async () => {
    const backend = new ScriptedBackend();
    const { controller } = make(backend);
    let settled = false;
    const pending = controller.provide(doc(BASE), new CancellationTokenSource().token).then((r) => {
      settled = true;
      return r;
    });
    const call = await backend.next();
    call.snapshot('return ma');
    await tick(5);
    assert.equal(settled, false, 'half a line is not shown');
    call.snapshot('return math.pi * r ** 2\n    # the ar');
    const result = await pending;
    assert.equal(result.text, 'return math.pi * r ** 2', 'the complete first line, not the partial second');
  });

  it('skips blank leading lines when deciding the first line is ready', async () => {
    const backend = new ScriptedBackend();
    const { controller } = make(backend);
    let settled = false;
    const pending = controller.provide(doc('if x:'), new CancellationTokenSource().token).then((r) => {
      settled = true;
      return r;
    });
    const call = await backend.next();
    call.snapshot('\n');
    await tick(5);
    assert.equal(settled, false, 'an empty first line is not worth showing');
    call.snapshot('\n    return 1\n');
    assert.equal((await pending).text, '\n    return 1');
  });

  it('asks VS Code to refresh as more lines stream in, and serves them without a new request', async () => {
    const backend = new ScriptedBackend();
    const { controller, refreshes } = make(backend);
    const first = controller.provide(doc(BASE), new CancellationTokenSource().token);
    const call = await backend.next();
    call.snapshot('a = 1\n');
    assert.equal((await first).text, 'a = 1');

    call.snapshot('a = 1\nb = 2\n');
    await tick(5);
    assert.deepEqual(refreshes, ['file:///a.py']);
    const second = await controller.provide(doc(BASE, BASE.length, true), new CancellationTokenSource().token);
    assert.deepEqual(second, { text: 'a = 1\nb = 2', outcome: 'refresh' });

    call.finish('a = 1\nb = 2\nc = 3');
    await tick(5);
    assert.equal(refreshes.length, 2, 'the last line, complete at the end, is shown too');
    assert.equal((await controller.provide(doc(BASE), new CancellationTokenSource().token)).text, 'a = 1\nb = 2\nc = 3');
    assert.equal(backend.calls.length, 1, 'one server request for the whole suggestion');
  });

  it('does not ask for a refresh when a snapshot adds nothing displayable', async () => {
    const backend = new ScriptedBackend();
    const { controller, refreshes } = make(backend);
    const first = controller.provide(doc(BASE), new CancellationTokenSource().token);
    const call = await backend.next();
    call.snapshot('a = 1\nb');
    await first;
    call.snapshot('a = 1\nb =');
    call.snapshot('a = 1\nb = 2');
    await tick(5);
    assert.deepEqual(refreshes, []);
  });

  it('serves the rest of the suggestion while the user types through it, without asking again', async () => {
    const backend = new ScriptedBackend();
    const { controller } = make(backend);
    const first = controller.provide(doc(BASE), new CancellationTokenSource().token);
    (await backend.next()).finish('return math.pi * r ** 2');
    await first;

    for (const typed of ['r', 're', 'ret', 'return m']) {
      const result = await controller.provide(typedAt(BASE, typed), new CancellationTokenSource().token);
      assert.deepEqual(result, { text: 'return math.pi * r ** 2'.slice(typed.length), outcome: 'typed-through' });
    }
    assert.equal(backend.calls.length, 1);
  });

  it('types through an auto-closed bracket and quote: the rest replaces the closers, no new request', async () => {
    const backend = new ScriptedBackend();
    const { controller } = make(backend);
    const first = controller.provide(doc(BASE), new CancellationTokenSource().token);
    (await backend.next()).finish('return area(r, "cm")');
    await first;
    // The editor closed "(" and then '"' as they were typed.
    const bracket = await controller.provide(typedAt(BASE, 'return area(', ')'), new CancellationTokenSource().token);
    assert.deepEqual(bracket, { text: 'r, "cm")', outcome: 'typed-through', replace: 1 });
    const quote = await controller.provide(typedAt(BASE, 'return area(r, "', '")'), new CancellationTokenSource().token);
    assert.deepEqual(quote, { text: 'cm")', outcome: 'typed-through', replace: 2 });
    assert.equal(backend.calls.length, 1);
  });

  it('types through a multi-line suggestion in a CRLF file (Enter types \\r\\n)', async () => {
    const backend = new ScriptedBackend();
    const { controller } = make(backend);
    const base = 'def area(r):\r\n    ';
    const first = controller.provide(doc(base + '\r\n', base.length), new CancellationTokenSource().token);
    (await backend.next()).finish('a = r * r\n    return a');
    await first;
    const next = await controller.provide(typedAt(base, 'a = r * r\r\n    ', '\r\n'), new CancellationTokenSource().token);
    assert.deepEqual(next, { text: 'return a', outcome: 'typed-through' });
    assert.equal(backend.calls.length, 1);
  });

  it('Escape sticks: a dismissed stream stops, no refresh brings it back, and the same cursor shows nothing', async () => {
    const backend = new ScriptedBackend();
    const { controller, refreshes } = make(backend);
    const first = controller.provide(doc(BASE), new CancellationTokenSource().token);
    const call = await backend.next();
    call.snapshot('a = 1\n');
    assert.equal((await first).text, 'a = 1');
    controller.dismiss(doc(BASE));
    assert.equal(call.token.isCancellationRequested, true, 'the server stops generating');
    call.snapshot('a = 1\nb = 2\n');
    await tick(5);
    assert.deepEqual(refreshes, [], 'no refresh after Escape');
    // VS Code asks again at the same place (a refresh already queued, a focus change).
    assert.deepEqual(await controller.provide(doc(BASE), new CancellationTokenSource().token), { text: '', outcome: 'none' });
    assert.equal(backend.calls.length, 1, 'no new request for the dismissed place');
    // The next keystroke asks again.
    const after = controller.provide(typedAt(BASE, 'x'), new CancellationTokenSource().token);
    (await backend.next()).finish(' = 2');
    assert.equal((await after).text, ' = 2');
  });

  it('treats a partial accept (a word inserted at once) like typing', async () => {
    const backend = new ScriptedBackend();
    const { controller } = make(backend);
    const first = controller.provide(doc(BASE), new CancellationTokenSource().token);
    (await backend.next()).finish('return total\nprint(total)');
    await first;
    const afterWord = await controller.provide(typedAt(BASE, 'return '), new CancellationTokenSource().token);
    assert.equal(afterWord.text, 'total\nprint(total)');
    const afterLine = await controller.provide(typedAt(BASE, 'return total\n'), new CancellationTokenSource().token);
    assert.equal(afterLine.text, 'print(total)');
    assert.equal(backend.calls.length, 1);
  });

  it('keeps the text after the cursor in the match (an edit there means a new suggestion)', async () => {
    const backend = new ScriptedBackend();
    const { controller } = make(backend);
    const suffix = '\n\nprint(area(2))\n';
    const first = controller.provide(doc(BASE + suffix, BASE.length), new CancellationTokenSource().token);
    (await backend.next()).finish('return r * r');
    await first;
    const through = await controller.provide(typedAt(BASE, 'ret', suffix), new CancellationTokenSource().token);
    assert.equal(through.text, 'urn r * r');

    const next = backend.next();
    const edited = controller.provide(typedAt(BASE, 'ret', suffix.replace('2', '3')), new CancellationTokenSource().token);
    (await next).finish('urn 0');
    assert.deepEqual(await edited, { text: 'urn 0', outcome: 'new' });
    assert.equal(backend.calls.length, 2);
  });

  it('asks again when the user types something else, and cancels the old stream', async () => {
    const backend = new ScriptedBackend();
    const { controller } = make(backend);
    const first = controller.provide(doc(BASE), new CancellationTokenSource().token);
    const call = await backend.next();
    call.snapshot('return 1\n');
    await first;
    const next = backend.next();
    const second = controller.provide(typedAt(BASE, 'x'), new CancellationTokenSource().token);
    const call2 = await next;
    assert.equal(call.token.isCancellationRequested, true, 'the stale stream was cancelled');
    assert.equal(call2.request.character, 5);
    call2.finish(' = 2');
    assert.equal((await second).text, ' = 2');
  });

  it('asks again once the whole suggestion has been typed', async () => {
    const backend = new ScriptedBackend();
    const { controller } = make(backend);
    const first = controller.provide(doc(BASE), new CancellationTokenSource().token);
    (await backend.next()).finish('pass');
    await first;
    const next = backend.next();
    const second = controller.provide(typedAt(BASE, 'pass'), new CancellationTokenSource().token);
    (await next).finish('\n');
    await second;
    assert.equal(backend.calls.length, 2);
  });

  it('returns at once when VS Code cancels, and cancels the server request if nothing picks it up', async () => {
    const backend = new ScriptedBackend();
    const { controller } = make(backend, { orphanGraceMs: 30 });
    const source = new CancellationTokenSource();
    const pending = controller.provide(doc(BASE), source.token);
    const call = await backend.next();
    call.snapshot('retu');
    source.cancel();
    assert.deepEqual(await pending, { text: '', outcome: 'none' });
    assert.equal(call.token.isCancellationRequested, false, 'kept briefly for the next keystroke');
    await tick(60);
    assert.equal(call.token.isCancellationRequested, true, 'then $/cancelRequest');
  });

  it('lets the next keystroke pick up a cancelled stream it types through', async () => {
    const backend = new ScriptedBackend();
    const { controller } = make(backend, { orphanGraceMs: 30 });
    const source = new CancellationTokenSource();
    const pending = controller.provide(doc(BASE), source.token);
    const call = await backend.next();
    call.snapshot('retu');
    source.cancel();
    await pending;
    // The user typed "r", which the model had already produced.
    const adopted = controller.provide(typedAt(BASE, 'r'), new CancellationTokenSource().token);
    await tick(60);
    assert.equal(call.token.isCancellationRequested, false, 'adopted, not cancelled');
    call.snapshot('return r\n');
    assert.deepEqual(await adopted, { text: 'eturn r', outcome: 'typed-through' });
    assert.equal(backend.calls.length, 1);
  });

  it('waits out the debounce, and a keystroke during it means no request at all', async () => {
    const backend = new ScriptedBackend();
    const { controller } = make(backend, { debounceMs: () => 40 });
    const source = new CancellationTokenSource();
    const first = controller.provide(doc(BASE), source.token);
    await tick(10);
    source.cancel();
    assert.deepEqual(await first, { text: '', outcome: 'none' });
    const second = controller.provide(typedAt(BASE, 'r'), new CancellationTokenSource().token);
    const call = await backend.next();
    assert.equal(backend.calls.length, 1, 'only the last keystroke reached the server');
    assert.equal(call.request.character, 5);
    call.finish('eturn');
    assert.equal((await second).text, 'eturn');
  });

  it('skips the debounce for an explicit request', async () => {
    const backend = new ScriptedBackend();
    const { controller } = make(backend, { debounceMs: () => 10_000 });
    const pending = controller.provide(doc(BASE, BASE.length, true), new CancellationTokenSource().token);
    (await backend.next()).finish('x');
    assert.equal((await pending).text, 'x');
  });

  it('reports a failed request once and shows nothing', async () => {
    const backend = new ScriptedBackend();
    const { controller, errors } = make(backend);
    const pending = controller.provide(doc(BASE), new CancellationTokenSource().token);
    (await backend.next()).fail(new Error('model is loading'));
    assert.deepEqual(await pending, { text: '', outcome: 'none' });
    assert.equal(errors.length, 1);
    assert.match(String(errors[0]), /model is loading/);
  });

  it('uses the final response when it differs from the last snapshot (post-processing)', async () => {
    const backend = new ScriptedBackend();
    const { controller, refreshes } = make(backend);
    const first = controller.provide(doc(BASE), new CancellationTokenSource().token);
    const call = await backend.next();
    call.snapshot('x = f(a)\ny = g(b)\n');
    assert.equal((await first).text, 'x = f(a)\ny = g(b)');
    call.finish('x = f(a)');
    await tick(5);
    assert.equal(refreshes.length, 1);
    assert.equal((await controller.provide(doc(BASE), new CancellationTokenSource().token)).text, 'x = f(a)');
  });

  it('reports activity: busy while a stream runs, idle however it ends', async () => {
    const backend = new ScriptedBackend();
    const { controller, activity } = make(backend);
    const first = controller.provide(doc(BASE), new CancellationTokenSource().token);
    const call = await backend.next();
    assert.deepEqual(activity, [true]);
    call.finish('a');
    await first;
    assert.deepEqual(activity, [true, false]);
    const second = controller.provide(typedAt(BASE, 'zz'), new CancellationTokenSource().token);
    await backend.next();
    controller.stop();
    await second;
    assert.deepEqual(activity, [true, false, true, false]);
  });
});
