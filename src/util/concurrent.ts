/** Bounded concurrency for async calls (judge requests, remote sampling requests). */
/**
 * Runs `fn` on every item with at most `limit` calls in flight; results in input order. After a failure no new call
 * starts, and the calls already in flight are waited for before the first error is thrown (nothing keeps running
 * behind the caller's back).
 */
export async function mapConcurrent<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i], i);
      } catch (e) {
        failed = true; // the other workers start nothing new
        throw e;
      }
    }
  };
  const settled = await Promise.allSettled(Array.from({ length: Math.min(limit, items.length) }, worker));
  const rejected = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (rejected) throw rejected.reason;
  return results;
}
