// The LSP errors the server answers with: one line each, saying what to do.
import { ResponseError } from 'vscode-languageserver/node';
import type { Position } from 'vscode-languageserver-protocol';
import type { TextDocument } from 'vscode-languageserver-textdocument';
import { ErrorCodes } from '../protocol';

export function unknownDocument(uri: string): ResponseError<void> {
  return new ResponseError(ErrorCodes.InvalidParams, `unknown document ${uri}: open it with textDocument/didOpen first`);
}

export function invalidParams(message: string): ResponseError<void> {
  return new ResponseError(ErrorCodes.InvalidParams, message);
}

export function cancelled(): ResponseError<void> {
  return new ResponseError(ErrorCodes.RequestCancelled, 'request cancelled');
}

export function requestFailed(message: string): ResponseError<void> {
  return new ResponseError(ErrorCodes.RequestFailed, message);
}

export function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0];
}

/** Throws InvalidParams unless `position` lies inside `doc` (the end of a line included). */
export function checkPosition(doc: TextDocument, position: Position | undefined): Position {
  const valid = (n: unknown) => typeof n === 'number' && Number.isInteger(n) && n >= 0;
  if (!position || !valid(position.line) || !valid(position.character)) {
    throw invalidParams('position must be {line, character} with non-negative integers');
  }
  if (position.line >= doc.lineCount) {
    throw invalidParams(`position ${position.line}:${position.character} is past the last line of ${doc.uri} (${doc.lineCount} lines)`);
  }
  const lineText = doc
    .getText({ start: { line: position.line, character: 0 }, end: { line: position.line + 1, character: 0 } })
    .replace(/\r?\n$/, '');
  if (position.character > lineText.length) {
    throw invalidParams(`position ${position.line}:${position.character} is past the end of line ${position.line} of ${doc.uri} (${lineText.length} characters)`);
  }
  return position;
}
