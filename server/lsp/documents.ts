// Open documents (incremental sync through vscode-languageserver's TextDocuments) and
// when each was last edited and where, for choosing extra context.
import { TextDocuments, type Connection } from 'vscode-languageserver/node';
import { TextDocument } from 'vscode-languageserver-textdocument';
import type { Position } from 'vscode-languageserver-protocol';
import type { ContextSource } from '../prompt/extra';

interface Activity {
  editedAt: number;
  /** Where the user last asked for a completion: the part of the file being worked on. */
  focusLine: number;
}

export class OpenDocuments {
  readonly documents = new TextDocuments(TextDocument);
  private readonly activity = new Map<string, Activity>();
  private clock = 0;

  constructor(onClose: (uri: string) => void) {
    this.documents.onDidOpen((e) => this.activity.set(e.document.uri, { editedAt: 0, focusLine: 0 }));
    this.documents.onDidChangeContent((e) => {
      const entry = this.activity.get(e.document.uri);
      // A logical clock: ties between edits in the same millisecond stay ordered.
      if (entry) entry.editedAt = ++this.clock;
    });
    this.documents.onDidClose((e) => {
      this.activity.delete(e.document.uri);
      onClose(e.document.uri);
    });
  }

  listen(connection: Connection): void {
    this.documents.listen(connection);
  }

  get(uri: string): TextDocument | undefined {
    return this.documents.get(uri);
  }

  focus(uri: string, position: Position): void {
    const entry = this.activity.get(uri);
    if (entry) entry.focusLine = position.line;
  }

  /** Every open document but `uri`, most recently edited first. */
  others(uri: string): ContextSource[] {
    return this.documents
      .all()
      .filter((doc) => doc.uri !== uri)
      .map((doc) => ({ doc, activity: this.activity.get(doc.uri) ?? { editedAt: 0, focusLine: 0 } }))
      .sort((a, b) => b.activity.editedAt - a.activity.editedAt)
      .map(({ doc, activity }) => ({ uri: doc.uri, languageId: doc.languageId, text: doc.getText(), focusLine: activity.focusLine }));
  }
}
