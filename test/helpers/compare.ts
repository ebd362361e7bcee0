import assert from 'node:assert/strict';

/** max |a - b| / max |b|: the error relative to the tensor's scale (elementwise ratios explode near zero). */
export function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, `length ${a.length} vs ${b.length}`);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  if (Number.isNaN(diff)) return Infinity;
  return diff / Math.max(scale, 1e-30);
}

/** Asserts maxRelDiff <= tol and prints it; returns it. */
export function expectClose(what: string, a: ArrayLike<number>, b: ArrayLike<number>, tol: number): number {
  const d = maxRelDiff(a, b);
  console.log(`  ${what}: max rel diff ${d.toExponential(2)}`);
  assert.ok(d <= tol, `${what}: max relative difference ${d.toExponential(3)} > ${tol}`);
  return d;
}
