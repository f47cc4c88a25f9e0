// The client side of a connection to a language server child process over its stdio: the
// benches and the tests use it whole, the extension's language client its transports.
import { spawn, type ChildProcess } from 'node:child_process';
import {
  createProtocolConnection,
  InitializedNotification,
  InitializeRequest,
  StreamMessageReader,
  StreamMessageWriter,
  type MessageReader,
  type MessageWriter,
  type ProtocolConnection,
} from 'vscode-languageserver-protocol/node';
import { GetStatusRequest, type ModelStatus, type Settings } from '../protocol';

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

/** The child's stdout and stdin as message transports whose reader disposes cleanly. */
export function childTransports(child: ChildProcess): { reader: MessageReader; writer: MessageWriter } {
  return { reader: new StreamReader(child.stdout!), writer: new StreamMessageWriter(child.stdin!) };
}

export function connectToChild(child: ChildProcess): ProtocolConnection {
  const { reader, writer } = childTransports(child);
  return createProtocolConnection(reader, writer);
}

/**
 * Starts `serverCommand… serve --stdio serverArgs…` with its stderr passed through, and a
 * listening connection to it. The caller watches the child's exit before initializing.
 */
export function startServer(serverCommand: string[], serverArgs: string[]): { child: ChildProcess; connection: ProtocolConnection } {
  const [command, ...prefixArgs] = serverCommand;
  const child = spawn(command, [...prefixArgs, 'serve', '--stdio', ...serverArgs], { stdio: ['pipe', 'pipe', 'inherit'] });
  const connection = connectToChild(child);
  connection.listen();
  return { child, connection };
}

/** The LSP handshake with these settings, then the model's status once it is ready (a load error throws). */
export async function initializeServer(connection: ProtocolConnection, settings: Partial<Settings>): Promise<ModelStatus> {
  await connection.sendRequest(InitializeRequest.type, { processId: process.pid, rootUri: null, capabilities: {}, initializationOptions: { settings } });
  await connection.sendNotification(InitializedNotification.type, {});
  for (;;) {
    const status = await connection.sendRequest<ModelStatus>(GetStatusRequest, {});
    if (status.state === 'ready') return status;
    if (status.state === 'error') throw new Error(`model failed to load: ${status.error}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
