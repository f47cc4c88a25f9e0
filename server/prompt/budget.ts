// How the prompt's token budget is shared between the text before the cursor, the text
// after it, and snippets of other documents. What the suffix and the extra context do
// not use goes to the prefix, the part that matters most.
export interface BudgetShares {
  total: number;
  suffixShare: number;
  extraShare: number;
}

export interface Budget {
  prefix: number;
  suffix: number;
  extra: number;
}

/** Caps for suffix and extra context; the prefix gets the rest once they are measured. */
export function budgetCaps(shares: BudgetShares, usesSuffix: boolean): Budget {
  const clamp = (share: number) => Math.min(Math.max(share, 0), 0.9);
  const suffix = usesSuffix ? Math.floor(shares.total * clamp(shares.suffixShare)) : 0;
  const extra = Math.floor(shares.total * clamp(shares.extraShare));
  return { prefix: Math.max(shares.total - suffix - extra, 0), suffix, extra };
}

/** The prefix budget once the suffix and the extra context are known. */
export function prefixBudget(total: number, suffixTokens: number, extraTokens: number): number {
  return Math.max(total - suffixTokens - extraTokens, 1);
}
