// Which part of a long document goes into the prompt.
//
// The prefix window starts at a line and ends at the cursor. Its start must not move
// while the user types, or no token of the previous prompt could be reused: it is kept
// while the prefix fits the budget (and fills at least `lowWater` of it), and otherwise
// placed anew, at a line boundary, so that the prefix fills `1 - step` of the budget.
// Typing then has `step` of the budget to spend before the start jumps again, and a
// jump moves it by many lines at once.
//
// The suffix window runs from the cursor to the end of a line and is a function of the
// text after the cursor alone, which typing at the cursor does not change.

/** Tokens of the prefix when the window starts at `line` (non-increasing in `line`). */
export type PrefixMeasure = (startLine: number) => number;

/** Tokens of the suffix when it ends at the end of line `endLine` (non-decreasing). */
export type SuffixMeasure = (endLine: number) => number;

export interface WindowPolicy {
  /** Share of the budget freed when the start moves. */
  step: number;
  /** A kept start must leave the prefix at least this share of the budget (unless it is line 0). */
  lowWater: number;
}

export const DEFAULT_POLICY: WindowPolicy = { step: 0.25, lowWater: 0.5 };

export interface Placement {
  start: number;
  /** Whether the start differs from the previous one. */
  moved: boolean;
}

export function placePrefixStart(
  previous: number | undefined,
  cursorLine: number,
  budget: number,
  measure: PrefixMeasure,
  policy: WindowPolicy = DEFAULT_POLICY,
): Placement {
  if (previous !== undefined && previous <= cursorLine) {
    const tokens = measure(previous);
    if (tokens <= budget && (previous === 0 || tokens >= policy.lowWater * budget)) {
      return { start: previous, moved: false };
    }
  }
  const start = firstLineWithin(cursorLine, Math.floor((1 - policy.step) * budget), measure);
  return { start, moved: start !== previous };
}

/** The smallest line s ≤ cursorLine with measure(s) ≤ target; cursorLine if none. */
function firstLineWithin(cursorLine: number, target: number, measure: PrefixMeasure): number {
  if (measure(0) <= target) return 0;
  let lo = 0; // measure(lo) > target
  let hi = cursorLine; // answer candidate
  if (measure(hi) > target) return hi;
  while (hi - lo > 1) {
    const mid = (lo + hi) >>> 1;
    if (measure(mid) <= target) hi = mid;
    else lo = mid;
  }
  return hi;
}

/** The last line the suffix may end at: the largest e ≤ lastLine with measure(e) ≤ budget. */
export function placeSuffixEnd(cursorLine: number, lastLine: number, budget: number, measure: SuffixMeasure): number {
  if (measure(lastLine) <= budget) return lastLine;
  let lo = cursorLine; // the cursor's own line is always kept (clipped by the caller if too long)
  let hi = lastLine; // measure(hi) > budget
  if (measure(lo) > budget) return lo;
  while (hi - lo > 1) {
    const mid = (lo + hi) >>> 1;
    if (measure(mid) <= budget) lo = mid;
    else hi = mid;
  }
  return lo;
}
