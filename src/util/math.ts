/** Small numeric helpers shared across layers. */

/** The arithmetic mean; NaN for an empty array (a mean of nothing is undefined, and NaN says so in metrics). */
export function mean(xs: readonly number[]): number {
  let sum = 0;
  for (const x of xs) sum += x;
  return xs.length ? sum / xs.length : NaN;
}

/** The mean of the finite entries (NaN and infinities skipped, as a metric logged as NaN means "not measured"). */
export function finiteMean(xs: readonly number[]): number {
  return mean(xs.filter(Number.isFinite));
}
