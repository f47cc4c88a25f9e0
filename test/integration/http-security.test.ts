// `tramontane serve --http` refuses what a web page or another local user could send it:
// no token, a foreign Host (DNS rebinding), a foreign Origin, a body that is not JSON or
// too large, an unbounded max_tokens; and its clients cannot evict the editor's caches.
// Every check runs against a real server process on a tiny model.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { tramontane } from '../helpers/cli';
import { LspClient } from '../helpers/lsp-client';
import { SMALL, writeTinyModel } from '../helpers/tiny-model';
import { ROOT, tokenizerPath } from '../helpers/tokenizers';

const TOKEN = 'a-token-from-the-environment';
const dir = writeTinyModel({ ...SMALL, vocab: 32768, eos: 32767 }, 11, { tokenizerFrom: tokenizerPath('v3', 'tokenizer.json') });
after(() => fs.rmSync(dir, { recursive: true, force: true }));

interface Served {
  child: ChildProcess;
  port: number;
  stderr: () => string;
}

/** Starts `serve --http 127.0.0.1:0 …` and resolves with its port once it listens. */
function serve(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Served> {
  const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'tramontane.js'), 'serve', '--model', dir, '--http', '127.0.0.1:0', ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, TRAMONTANE_HTTP_TOKEN: '', ...env },
  });
  let stderr = '';
  return new Promise((resolve, reject) => {
    child.stderr!.on('data', (data: Buffer) => {
      stderr += data.toString();
      const match = /on http:\/\/127\.0\.0\.1:(\d+)\/v1/.exec(stderr);
      if (match) resolve({ child, port: Number(match[1]), stderr: () => stderr });
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}: ${stderr}`)));
  });
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A raw HTTP request: unlike fetch, it can send any Host header, as a rebound page would. */
function request(port: number, method: string, route: string, headers: Record<string, string | number>, body?: string | Buffer): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: route, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const errorOf = (reply: Reply): string => JSON.parse(reply.body).error.message;

describe('HTTP API: a token is required', () => {
  test('without a token the server refuses to start, in one line', () => {
    const result = tramontane(['serve', '--model', dir, '--http', '127.0.0.1:0'], { timeoutMs: 30_000 });
    assert.equal(result.status, 1);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    assert.match(result.stderr, /^tramontane: the HTTP API needs a bearer token: set TRAMONTANE_HTTP_TOKEN, pass --token-file FILE, or pass --no-auth/);
  });

  test('the token from the environment: required, and never on the command line', async () => {
    const server = await serve([], { TRAMONTANE_HTTP_TOKEN: TOKEN });
    try {
      assert.ok(!server.child.spawnargs.some((arg) => arg.includes(TOKEN)));
      const host = `127.0.0.1:${server.port}`;
      assert.equal((await request(server.port, 'GET', '/v1/models', { host })).status, 401);
      assert.equal((await request(server.port, 'GET', '/v1/models', { host, authorization: 'Bearer wrong' })).status, 401);
      assert.equal((await request(server.port, 'GET', '/v1/models', { host, authorization: `Bearer ${TOKEN}` })).status, 200);
    } finally {
      server.child.kill();
    }
  });

  test('the token from --token-file', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tramontane-token-')), 'token');
    fs.writeFileSync(file, 'from-a-file\n', { mode: 0o600 });
    const server = await serve(['--token-file', file]);
    try {
      assert.doesNotMatch(server.stderr(), /can be read by other users/);
      const host = `127.0.0.1:${server.port}`;
      assert.equal((await request(server.port, 'GET', '/v1/models', { host, authorization: 'Bearer from-a-file' })).status, 200);
      assert.equal((await request(server.port, 'GET', '/v1/models', { host })).status, 401);
    } finally {
      server.child.kill();
      fs.rmSync(path.dirname(file), { recursive: true, force: true });
    }
    const shared = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tramontane-token-')), 'token');
    fs.writeFileSync(shared, 'readable-by-all\n', { mode: 0o644 });
    fs.chmodSync(shared, 0o644);
    const loose = await serve(['--token-file', shared]);
    loose.child.kill();
    fs.rmSync(path.dirname(shared), { recursive: true, force: true });
    assert.match(loose.stderr(), /tramontane: warning: --token-file \S+ can be read by other users: chmod 600 it/);
    const missing = tramontane(['serve', '--model', dir, '--http', '127.0.0.1:0', '--token-file', '/nonexistent/token']);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /^tramontane: cannot read --token-file \/nonexistent\/token: ENOENT/);
  });

  test('--no-auth serves everyone, and says so on stderr', async () => {
    const server = await serve(['--no-auth']);
    try {
      assert.match(server.stderr(), /warning: --no-auth: every process and user on this machine can use the HTTP API/);
      assert.equal((await request(server.port, 'GET', '/v1/models', { host: `127.0.0.1:${server.port}` })).status, 200);
    } finally {
      server.child.kill();
    }
    const both = tramontane(['serve', '--model', dir, '--http', '127.0.0.1:0', '--no-auth', '--token', 'x']);
    assert.equal(both.status, 1);
    assert.match(both.stderr, /--no-auth turns the token off/);
  });
});

describe('HTTP API: what a browser page could send is refused', () => {
  let server: Served;
  let auth: Record<string, string>;
  before(async () => {
    server = await serve(['--allow-origin', 'http://localhost:5173', '--allow-host', 'localhost:9000', '--max-tokens', '64'], { TRAMONTANE_HTTP_TOKEN: TOKEN });
    auth = { host: `127.0.0.1:${server.port}`, authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
  });
  after(() => server.child.kill());
  const completion = JSON.stringify({ prompt: 'x = ', max_tokens: 2, temperature: 0 });

  test('a Host that is not the bound loopback address and port (DNS rebinding) is refused', async () => {
    for (const host of ['evil.example:' + server.port, `127.0.0.1:${server.port + 1}`, '127.0.0.1', 'localhost.evil.example']) {
      const reply = await request(server.port, 'POST', '/v1/completions', { ...auth, host }, completion);
      assert.equal(reply.status, 403, host);
      assert.match(errorOf(reply), /is not this server's address/);
    }
    assert.equal((await request(server.port, 'POST', '/v1/completions', { ...auth, host: `localhost:${server.port}` }, completion)).status, 200);
    // The local end of a tunnel, allowed by name.
    assert.equal((await request(server.port, 'POST', '/v1/completions', { ...auth, host: 'localhost:9000' }, completion)).status, 200);
    assert.equal((await request(server.port, 'POST', '/v1/completions', { ...auth, host: 'localhost:9001' }, completion)).status, 403);
    assert.equal((await request(server.port, 'POST', '/v1/completions', auth, completion)).status, 200);
  });

  test('a request with an Origin is refused unless --allow-origin names it', async () => {
    const foreign = await request(server.port, 'POST', '/v1/completions', { ...auth, origin: 'https://evil.example' }, completion);
    assert.equal(foreign.status, 403);
    assert.match(errorOf(foreign), /origin https:\/\/evil\.example are refused; start the server with --allow-origin/);
    assert.equal(foreign.headers['access-control-allow-origin'], undefined);

    const preflight = await request(server.port, 'OPTIONS', '/v1/completions', { host: auth.host, origin: 'http://localhost:5173', 'access-control-request-method': 'POST' });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers['access-control-allow-origin'], 'http://localhost:5173');
    assert.match(String(preflight.headers['access-control-allow-headers']), /authorization/);
    const allowed = await request(server.port, 'POST', '/v1/completions', { ...auth, origin: 'http://localhost:5173' }, completion);
    assert.equal(allowed.status, 200);
    assert.equal(allowed.headers['access-control-allow-origin'], 'http://localhost:5173');
    // An allowed origin still needs the token.
    const { authorization: _, ...noToken } = auth;
    assert.equal((await request(server.port, 'POST', '/v1/completions', { ...noToken, origin: 'http://localhost:5173' }, completion)).status, 401);
  });

  test('a body that is not application/json is 415', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      const reply = await request(server.port, 'POST', '/v1/completions', { ...auth, 'content-type': type }, completion);
      assert.equal(reply.status, 415, type);
      assert.match(errorOf(reply), /Content-Type must be application\/json/);
    }
    const { 'content-type': _, ...untyped } = auth;
    assert.equal((await request(server.port, 'POST', '/v1/chat/completions', untyped, completion)).status, 415);
    assert.equal((await request(server.port, 'POST', '/v1/completions', { ...auth, 'content-type': 'application/json; charset=utf-8' }, completion)).status, 200);
  });

  test('a body over 4 MiB is 413, declared or streamed, and the server goes on', async () => {
    const big = Buffer.alloc(5 * 1024 * 1024, 'a');
    const declared = await request(server.port, 'POST', '/v1/completions', auth, big);
    assert.equal(declared.status, 413);
    assert.match(errorOf(declared), /request body over 4194304 bytes/);
    const streamed = await request(server.port, 'POST', '/v1/completions', { ...auth, 'transfer-encoding': 'chunked' }, big);
    assert.equal(streamed.status, 413);
    assert.equal((await request(server.port, 'POST', '/v1/completions', auth, completion)).status, 200);
  });

  test('max_tokens over the cap is a clear 400, before any engine work', async () => {
    const over = await request(server.port, 'POST', '/v1/completions', auth, JSON.stringify({ prompt: 'x', max_tokens: 65536 }));
    assert.equal(over.status, 400);
    assert.equal(errorOf(over), "max_tokens is 65536, over this server's limit of 64 (serve --max-tokens)");
    const chat = await request(server.port, 'POST', '/v1/chat/completions', auth, JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 65 }));
    assert.equal(chat.status, 400);
    assert.match(errorOf(chat), /over this server's limit of 64/);
    assert.equal((await request(server.port, 'POST', '/v1/completions', auth, JSON.stringify({ prompt: 'x', max_tokens: -1 }))).status, 400);
    assert.equal((await request(server.port, 'POST', '/v1/completions', auth, JSON.stringify({ prompt: 'x', max_tokens: 1.5 }))).status, 400);
    // Chat's default (512) is brought under the cap rather than refused.
    const fitted = await request(server.port, 'POST', '/v1/chat/completions', auth, JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], temperature: 0 }));
    assert.equal(fitted.status, 200);
    assert.ok(JSON.parse(fitted.body).usage.completion_tokens <= 64);
  });
});

describe('HTTP API: its clients have their own sessions', () => {
  test("requests with many `user` values never evict the editor's KV cache", async () => {
    const previous = process.env.TRAMONTANE_HTTP_TOKEN;
    process.env.TRAMONTANE_HTTP_TOKEN = TOKEN;
    let client: LspClient;
    try {
      client = await LspClient.start(['--model', dir, '--http', '127.0.0.1:0', '--completion-sessions', '2'], { fimTemplate: 'mistral', maxTokens: 6 });
    } finally {
      if (previous === undefined) delete process.env.TRAMONTANE_HTTP_TOKEN;
      else process.env.TRAMONTANE_HTTP_TOKEN = previous;
    }
    try {
      await client.ready();
      const port = Number(/on http:\/\/127\.0\.0\.1:(\d+)\/v1/.exec(client.stderr)![1]);
      const uri = 'file:///work/editor.py';
      const text = Array.from({ length: 30 }, (_, i) => `def f${i}(x):\n    return x * ${i}\n`).join('\n') + '\ndef g(y):\n    ';
      client.open(uri, text, 'python');
      const end = { line: text.split('\n').length - 1, character: 4 };
      await client.complete(uri, end);
      const first = await client.lastStats();
      assert.ok(first.promptTokens! > 200, `prompt of ${first.promptTokens} tokens`);

      // More API users than the editor keeps sessions for, each with its own prompt.
      const headers = { host: `127.0.0.1:${port}`, authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
      for (const user of ['alice', 'bob', 'carol', 'dave']) {
        const prompt = `# ${user}\n` + Array.from({ length: 20 }, (_, i) => `${user}_${i} = ${i}\n`).join('');
        const reply = await request(port, 'POST', '/v1/completions', headers, JSON.stringify({ prompt, user, max_tokens: 2, temperature: 0 }));
        assert.equal(reply.status, 200, reply.body);
      }

      // The editor types one character (not the suggestion's, so the engine runs):
      // its session still holds the document's prompt, so only the end is computed.
      client.insert(uri, end, 'Q');
      await client.complete(uri, { line: end.line, character: 5 });
      const second = await client.lastStats();
      assert.notEqual(second.outcome, 'cached');
      assert.ok(second.computedTokens! <= 8, `the editor's session recomputed ${second.computedTokens} of ${second.promptTokens} tokens`);
      assert.ok(second.reusedTokens! >= second.promptTokens! - 8);
    } finally {
      await client.stop();
    }
  });
});
