// Snippets of other documents for the prompt, given most useful first and written most
// useful last (nearest the cursor): the lines around each one's last edit, headed by its
// path in a comment of the current language, so the model sees the names it is likely
// to need.
export interface ContextSource {
  uri: string;
  languageId: string;
  text: string;
  /** Line of the last edit (or 0 for a document never edited). */
  focusLine: number;
}

const HASH = new Set(['python', 'shellscript', 'ruby', 'yaml', 'perl', 'r', 'makefile', 'dockerfile', 'toml', 'powershell', 'elixir', 'julia', 'nim', 'coffeescript']);
const DASHES = new Set(['lua', 'sql', 'haskell', 'elm', 'ada']);
const MARKUP = new Set(['html', 'xml', 'markdown', 'vue', 'svelte']);

export function commentLine(languageId: string, text: string): string {
  if (HASH.has(languageId)) return `# ${text}`;
  if (DASHES.has(languageId)) return `-- ${text}`;
  if (MARKUP.has(languageId)) return `<!-- ${text} -->`;
  if (languageId === 'clojure' || languageId === 'lisp' || languageId === 'scheme') return `;; ${text}`;
  return `// ${text}`;
}

/** The file's folder and name, as the prompt shows it. */
export function displayPath(uri: string): string {
  try {
    const url = new URL(uri);
    return decodeURIComponent(url.pathname).replace(/^.*\/(?=[^/]+\/[^/]+$)/, '');
  } catch {
    return uri;
  }
}

/**
 * Text to put before the prefix, at most `budget` tokens by `count`. Each source gets
 * an equal share (at most `maxSources` of them); a snippet grows around its focus line
 * one line at a time, alternating below and above, while it fits.
 */
export function extraContext(
  sources: ContextSource[],
  languageId: string,
  budget: number,
  count: (text: string) => number,
  maxSources = 4,
): string {
  const chosen = sources.slice(0, maxSources);
  if (budget <= 0 || chosen.length === 0) return '';
  const share = Math.floor(budget / chosen.length);
  const parts: string[] = [];
  for (const source of chosen) {
    const header = commentLine(languageId, `Path: ${displayPath(source.uri)}`);
    const lines = source.text.split(/\r?\n/);
    const focus = Math.min(Math.max(source.focusLine, 0), lines.length - 1);
    let first = focus;
    let last = focus;
    const render = (a: number, b: number) => `${header}\n${lines.slice(a, b + 1).join('\n')}\n`;
    if (count(render(first, last)) > share) continue;
    for (let grew = true; grew; ) {
      grew = false;
      for (const [a, b] of [
        [first, last + 1],
        [first - 1, last],
      ]) {
        if (a < 0 || b >= lines.length) continue;
        if (count(render(a, b)) <= share) {
          first = a;
          last = b;
          grew = true;
        }
      }
    }
    parts.push(render(first, last));
  }
  // The most useful source goes last, nearest the text it helps complete.
  return parts.reverse().join('\n');
}
