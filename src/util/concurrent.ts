/** Async helpers for the HTTP clients (judge, Tinker): bounded concurrency, waiting, and a server's Retry-After. */
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

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A response's Retry-After in milliseconds, from its seconds form (the HTTP-date form is ignored). */
export function retryAfterMs(res: Response): number | undefined {
  const v = Number(res.headers.get('retry-after'));
  return res.headers.has('retry-after') && Number.isFinite(v) && v >= 0 ? v * 1000 : undefined;
}
