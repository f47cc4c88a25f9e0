// Answers that loop. A small model, or greedy decoding, can fall into writing one
// sentence or one block again and again until the length limit. An answer whose end is
// periodic (its last 3 × p characters are one span of p characters, three times) is
// looping: it is cut after the first copy and stopped.
//
// Example, p = 24: "…circle.\n\nThe radius is the size.\n\nThe radius is the size.\n\nThe radius is the size."
// ends with "\n\nThe radius is the size." three times: the text kept ends after the first.
//
// Units shorter than minSpan loop too ("assassass…"): a unit with a letter or digit
// repeated back to back over the last `shortRun` characters is cut after its first copy
// (rules of dashes or equals signs have neither, and stay).

export interface LoopOptions {
  /** Shortest span that counts (shorter ones are rules, separators, ellipses). */
  minSpan?: number;
  longestSpan?: number;
  times?: number;
  /** Characters a short unit must fill, back to back, to count as a loop. */
  shortRun?: number;
}

/** Characters of `text` to keep when its end repeats one span `times` times; undefined when it does not. */
export function findLoop(text: string, { minSpan = 16, longestSpan = 800, times = 3, shortRun = 64 }: LoopOptions = {}): number | undefined {
  const n = text.length;
  for (let p = minSpan; p <= longestSpan && p * times <= n; p++) {
    if (text[n - 1] !== text[n - 1 - p]) continue; // the cheap test first
    if (text.slice(n - (times - 1) * p) !== text.slice(n - times * p, n - p)) continue;
    // A line of dashes or a table rule repeats without being a loop.
    if (new Set(text.slice(n - p).replace(/\s/g, '')).size < 4) continue;
    return n - (times - 1) * p;
  }
  return shortLoop(text, minSpan, shortRun);
}

function shortLoop(text: string, minSpan: number, run: number): number | undefined {
  const n = text.length;
  if (n < run) return undefined;
  for (let p = 1; p < minSpan; p++) {
    let periodic = true;
    for (let i = n - run; i < n - p && periodic; i++) periodic = text[i] === text[i + p];
    if (!periodic || !/[\p{L}\p{N}]/u.test(text.slice(n - p))) continue;
    let start = n - run; // back to where the repetition began
    while (start > 0 && text[start - 1] === text[start - 1 + p]) start--;
    return start + p;
  }
  return undefined;
}
