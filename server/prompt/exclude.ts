// Which files may go into a prompt. Secrets never do (a remote server would receive
// them): environment files, private keys, certificates and credential stores, plus the
// user's own glob patterns. Other open files go in only in languages the user has
// completions on.

/** Always kept out, matched against the file's name (case-insensitive). */
export const SECRET_PATTERNS: readonly string[] = [
  '.env*',
  '*.env',
  '*.pem',
  '*.key',
  '*.crt',
  '*.cer',
  '*.der',
  '*.p12',
  '*.pfx',
  '*.jks',
  '*.keystore',
  '*.kdbx',
  '*.gpg',
  '*.asc',
  'id_rsa*',
  'id_dsa*',
  'id_ecdsa*',
  'id_ed25519*',
  '.npmrc',
  '.pypirc',
  '.netrc',
  '.git-credentials',
  '.htpasswd',
  'credentials',
  'credentials.json',
  'secrets.*',
];

/**
 * A glob as a regular expression: `*` and `?` within one path segment, `**` across
 * segments. A pattern without a slash matches the file name alone, in any folder.
 */
export function globRegExp(pattern: string): RegExp {
  const anchored = pattern.includes('/');
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i];
    if (ch === '*' && pattern[i + 1] === '*') {
      const slash = pattern[i + 2] === '/';
      source += slash ? '(?:.*/)?' : '.*';
      i += slash ? 2 : 1;
    } else if (ch === '*') source += '[^/]*';
    else if (ch === '?') source += '[^/]';
    else source += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(anchored ? `(?:^|/)${source.replace(/^\//, '')}$` : `(?:^|/)${source}$`, 'i');
}

function pathOf(uri: string): string {
  try {
    return decodeURIComponent(new URL(uri).pathname);
  } catch {
    return uri;
  }
}

export class PromptFilter {
  private readonly denied: RegExp[];

  constructor(
    extraPatterns: readonly string[] = [],
    private readonly enabledLanguages: Readonly<Record<string, boolean>> = { '*': true },
  ) {
    this.denied = [...SECRET_PATTERNS, ...extraPatterns].map(globRegExp);
  }

  /** Whether the text of `uri` may go into any prompt. */
  allows(uri: string): boolean {
    const path = pathOf(uri);
    return !this.denied.some((pattern) => pattern.test(path));
  }

  /** Whether another open file may lend context: allowed, and in an enabled language. */
  allowsContext(uri: string, languageId: string): boolean {
    const own = this.enabledLanguages[languageId];
    return this.allows(uri) && (own ?? this.enabledLanguages['*'] ?? true);
  }
}
