// The client side of a connection to a language server child process over its stdio, as
// the benches and the tests use it (the extension has vscode-languageclient's).
import type { ChildProcess } from 'node:child_process';
import { createProtocolConnection, StreamMessageReader, StreamMessageWriter, type ProtocolConnection } from 'vscode-languageserver-protocol/node';

// vscode-jsonrpc's stream reader re-arms a 10 s timer for as long as a message stays half
// read, and its dispose() leaves that timer running: a server that died in the middle of
// a message would keep this process alive for good.
class StreamReader extends StreamMessageReader {
  override dispose(): void {
    this.partialMessageTimeout = 0; // a timer still pending fires once more and is not re-armed
    (this as unknown as { clearPartialMessageTimer?: () => void }).clearPartialMessageTimer?.();
    super.dispose();
  }
}

export function connectToChild(child: ChildProcess): ProtocolConnection {
  return createProtocolConnection(new StreamReader(child.stdout!), new StreamMessageWriter(child.stdin!));
}
