/**
 * The futures of `selfplay serve --tinker`: every call that computes (create_model, forward_backward, optim_step,
 * asample, save/load...) becomes a future at once and its work joins ONE queue, run in arrival order. One queue
 * because the work shares the process's CPU cores and ONNX Runtime sessions, and because a model's calls must apply
 * in the order they were sent (forward_backward before its optim_step) -- Tinker's ordering guarantee.
 *
 * A future answers retrieve_future with its result or its failure for `ttlMs` after it settles, then is forgotten
 * (410 for ids of this process, 404 for ids of another: the server restarted). Each client (remote address) may
 * have at most `maxPendingPerClient` futures not yet settled; the next call gets 429.
 */
import { randomBytes } from 'node:crypto';
import { RequestError } from '../protocol.ts';

export type FutureAnswer =
  | { done: false }
  | { done: true; ok: true; value: unknown }
  | { done: true; ok: false; error: string; category: 'user' | 'server' };

interface Entry {
  client: string;
  answer: FutureAnswer;
  settled: Promise<void>;
  /** When the answer is dropped (set once it settles). */
  expires?: number;
}

export interface FutureLimits {
  maxPendingPerClient: number;
  /** How long a settled future's answer is kept. */
  ttlMs: number;
}

/** A failure the client caused (bad request data found while working): category `user`, not worth retrying. */
export class UserFault extends Error {}

export class FutureStore {
  /** Ids of this process start with it, so an id from before a restart is told apart from an expired one. */
  private readonly boot = randomBytes(4).toString('hex');
  private next = 1;
  private readonly entries = new Map<string, Entry>();
  private queue: Promise<unknown> = Promise.resolve();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly limits: FutureLimits) {
    this.sweeper = setInterval(() => this.sweep(), Math.max(1000, Math.min(limits.ttlMs, 60_000))).unref();
  }

  /** Futures of `client` not settled yet. */
  pending(client: string): number {
    let n = 0;
    for (const e of this.entries.values()) if (e.client === client && !e.answer.done) n++;
    return n;
  }

  /** Queues `work`; returns the future's id at once. 429 when the client has too many futures in flight. */
  submit(client: string, work: () => Promise<unknown>): string {
    if (this.pending(client) >= this.limits.maxPendingPerClient) {
      throw new RequestError(`futures: ${this.limits.maxPendingPerClient} calls of this client are still pending; retrieve them first`, null, 429, 'too_many_pending');
    }
    const id = `${this.boot}-${this.next++}`;
    const entry: Entry = { client, answer: { done: false }, settled: Promise.resolve() };
    const run = this.queue.then(work);
    entry.settled = run.then(
      (value) => this.settle(entry, { done: true, ok: true, value }),
      (e: unknown) => this.settle(entry, failure(e)),
    );
    this.queue = entry.settled;
    this.entries.set(id, entry);
    return id;
  }

  private settle(entry: Entry, answer: FutureAnswer): void {
    entry.answer = answer;
    entry.expires = Date.now() + this.limits.ttlMs;
  }

  /** The answer, waiting up to `waitMs` for it to settle (a long poll). 404 / 410 for ids it does not hold. */
  async retrieve(id: string, waitMs: number): Promise<FutureAnswer> {
    const entry = this.entries.get(id);
    if (!entry) {
      const n = id.startsWith(`${this.boot}-`) ? Number(id.slice(this.boot.length + 1)) : NaN;
      if (Number.isInteger(n) && n > 0 && n < this.next) throw new RequestError(`request_id ${id}: expired (answers are kept ${this.limits.ttlMs} ms)`, 'request_id', 410, 'expired');
      throw new RequestError(`request_id ${id}: unknown to this server (it may have restarted)`, 'request_id', 404, 'not_found');
    }
    if (!entry.answer.done && waitMs > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([entry.settled, new Promise<void>((r) => (timer = setTimeout(r, waitMs)))]);
      clearTimeout(timer);
    }
    return entry.answer;
  }

  /** Resolves when every queued call has settled. */
  idle(): Promise<void> {
    return this.queue.then(() => undefined);
  }

  private sweep(now = Date.now()): void {
    for (const [id, e] of this.entries) if (e.expires !== undefined && e.expires <= now) this.entries.delete(id);
  }

  close(): void {
    clearInterval(this.sweeper);
  }
}

/** A failed call's answer: the client's fault (category user) for request errors, else the server's. */
function failure(e: unknown): FutureAnswer {
  const message = e instanceof Error ? e.message : String(e);
  const user = e instanceof RequestError || e instanceof UserFault || (e instanceof Error && ['InputError', 'ModelFormatError'].includes(e.name));
  return { done: true, ok: false, error: message, category: user ? 'user' : 'server' };
}
