#!/usr/bin/env node
// A stand-alone LSP client, as another editor would be: starts `tramontane serve
// --stdio`, opens FILE, asks for an inline completion at LINE:COLUMN (1-based) and
// prints the suggestion. Uses vscode-languageserver-protocol's node connection, the
// layer vscode-languageclient is built on, without VS Code.
//   node scripts/lsp-complete.mjs [serve options…] FILE LINE:COLUMN
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const require = createRequire(import.meta.url);
const lsp = require('vscode-languageserver-protocol/node');

const args = process.argv.slice(2);
const [file, where] = args.splice(-2, 2);
const match = /^(\d+):(\d+)$/.exec(where ?? '');
if (!file || !match) {
  console.error('usage: node scripts/lsp-complete.mjs [serve options…] FILE LINE:COLUMN');
  process.exit(2);
}
const position = { line: Number(match[1]) - 1, character: Number(match[2]) - 1 };
const bin = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'tramontane.js');
const server = spawn(process.execPath, [bin, 'serve', '--stdio', ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
const connection = lsp.createProtocolConnection(new lsp.StreamMessageReader(server.stdout), new lsp.StreamMessageWriter(server.stdin));
connection.listen();

try {
  const init = await connection.sendRequest(lsp.InitializeRequest.type, { processId: process.pid, rootUri: null, capabilities: {} });
  if (!init.capabilities.inlineCompletionProvider) throw new Error('the server does not offer inline completions');
  await connection.sendNotification(lsp.InitializedNotification.type, {});
  const uri = pathToFileURL(path.resolve(file)).href;
  const text = fs.readFileSync(file, 'utf8');
  await connection.sendNotification(lsp.DidOpenTextDocumentNotification.type, { textDocument: { uri, languageId: 'plaintext', version: 1, text } });
  const result = await connection.sendRequest(lsp.InlineCompletionRequest.type, {
    textDocument: { uri },
    position,
    context: { triggerKind: lsp.InlineCompletionTriggerKind.Invoked },
  });
  const items = Array.isArray(result) ? result : (result?.items ?? []);
  process.stdout.write(JSON.stringify({ items }) + '\n');
  await connection.sendRequest(lsp.ShutdownRequest.type);
  await connection.sendNotification(lsp.ExitNotification.type);
} catch (error) {
  console.error(`lsp-complete: ${error.message}`);
  server.kill();
  process.exitCode = 1;
}
