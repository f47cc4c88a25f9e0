// Where the HTTP API's bearer token comes from. The environment (TRAMONTANE_HTTP_TOKEN)
// or a file (--token-file) keep it out of the process list, where --token is visible to
// every user of the machine (`ps`). Without any of them the server refuses to start,
// unless --no-auth says explicitly that every local process may use it.
import fs from 'node:fs';

export const TOKEN_ENV = 'TRAMONTANE_HTTP_TOKEN';

export interface TokenSources {
  token?: string;
  tokenFile?: string;
  /** False with --no-auth. */
  auth?: boolean;
}

/** The token the API requires; undefined only with --no-auth. Bad combinations are one line. */
export function resolveHttpToken(sources: TokenSources, env: NodeJS.ProcessEnv, warn: (line: string) => void = () => undefined): string | undefined {
  if (sources.token !== undefined && sources.tokenFile !== undefined) throw new Error('give either --token or --token-file, not both');
  let token: string | undefined;
  if (sources.tokenFile !== undefined) {
    let text: string;
    try {
      text = fs.readFileSync(sources.tokenFile, 'utf8');
    } catch (error) {
      throw new Error(`cannot read --token-file ${sources.tokenFile}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
    token = text.trim();
    if (token === '') throw new Error(`--token-file ${sources.tokenFile} is empty`);
    if (process.platform !== 'win32' && (fs.statSync(sources.tokenFile).mode & 0o077) !== 0) {
      warn(`warning: --token-file ${sources.tokenFile} can be read by other users: chmod 600 it`);
    }
  } else {
    token = sources.token ?? (env[TOKEN_ENV] || undefined);
  }
  if (sources.auth === false) {
    if (token !== undefined) throw new Error(`--no-auth turns the token off: drop --token/--token-file and unset ${TOKEN_ENV}`);
    return undefined;
  }
  if (token === undefined) {
    throw new Error(`the HTTP API needs a bearer token: set ${TOKEN_ENV}, pass --token-file FILE, or pass --no-auth to let every local process use it`);
  }
  if (/\s/.test(token)) throw new Error('the bearer token must not contain spaces or line breaks');
  return token;
}
