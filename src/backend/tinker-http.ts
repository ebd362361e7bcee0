/**
 * The Tinker API's transport: JSON over HTTP with the API key, retries with jittered exponential backoff where a
 * retry is safe, and futures (a request id answered later) polled through retrieve_future until done or a deadline.
 *
 * When is a retry safe? A call that only reads or samples with a seed (`idempotent`) may be sent again after any
 * transient failure. A call that changes training state (`once`: forward_backward, optim_step) is sent again only
 * when the server certainly did not take it: the connection was refused, or it answered 429 or 503. After a reset,
 * a timeout or another 5xx the server may have applied it, so the call fails with one line instead of doubling a
 * gradient or a step; the run then resumes from its last checkpoint. Every failure is a RemoteError naming the
 * method, the endpoint and the status (or the response field at fault).
 */
import type { z } from 'zod';
import { RemoteError } from '../errors.ts';
import { retryAfterMs, sleep } from '../util/concurrent.ts';

export interface TinkerHttpOptions {
  /** The service's root (`http://127.0.0.1:8000`); endpoints are paths under it (`/api/v1/...`). */
  url: string;
  /** Sent as `X-API-Key` and `Authorization: Bearer` (null: none). */
  apiKey: string | null;
  /** Tries after the first one, for failures where a retry is safe. */
  retries: number;
  /** Time limit of one HTTP request. */
  requestTimeoutMs: number;
  /** Time limit of one future, from its acceptance to its result. */
  futureTimeoutMs: number;
  /** First backoff; it doubles per retry (full jitter) up to `maxBackoffMs` (default 500 ms / 8 s). */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** First pause between polls of a future; it grows by half up to 1 s (default 20 ms). */
  pollMs?: number;
  /** Told about each retry (one line). */
  log?: (line: string) => void;
}

/** `idempotent`: may be sent twice; `once`: changes training state, sent again only when it certainly was not taken. */
export type Retry = 'idempotent' | 'once';

/** A failed attempt: whether the server may recover (`transient`), and whether it certainly did not take the request. */
class Failure extends Error {
  constructor(
    message: string,
    readonly transient: boolean,
    readonly notTaken: boolean,
    readonly retryAfterMs?: number,
    readonly timedOut = false,
  ) {
    super(message);
  }
}

/** Error codes of a connection the server never accepted: nothing was sent. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);

/** The server's own message (FastAPI's `detail`, or `error`/`message`), else the start of the body; on one line. */
export function detailOf(text: string): string {
  let shown = text;
  try {
    const j = JSON.parse(text) as Record<string, unknown> | null;
    const d = j?.detail ?? j?.error ?? j?.message;
    if (d !== undefined) shown = typeof d === 'string' ? d : JSON.stringify(d);
  } catch {
    // not JSON: the body as it is
  }
  shown = shown.replace(/\s+/g, ' ').trim();
  return shown.length > 200 ? `${shown.slice(0, 200)}...` : shown;
}

function statusFailure(status: number, text: string, retryAfterMs?: number): Failure {
  const detail = detailOf(text);
  const what = `HTTP ${status}${detail && detail !== '{}' ? ` (${detail})` : ''}`;
  if (status === 401 || status === 403) return new Failure(`${what}: the service refused the API key; set TINKER_API_KEY or pass --api-key`, false, true);
  if (status === 429 || status === 503) return new Failure(what, true, true, retryAfterMs);
  if (status === 408 || status >= 500) return new Failure(what, true, false, retryAfterMs);
  return new Failure(what, false, true);
}

function networkFailure(e: unknown, timeoutMs: number): Failure {
  const err = e as Error & { cause?: { code?: string; message?: string } };
  if (err.name === 'TimeoutError' || err.name === 'AbortError') return new Failure(`no answer within ${timeoutMs / 1000} s`, true, false, undefined, true);
  const code = err.cause?.code;
  const why = code ?? err.cause?.message ?? err.message;
  return new Failure(`connection failed (${why})`, true, code !== undefined && NOT_SENT.has(code));
}

export interface FutureOptions {
  /** How the submitting request may be retried (polling is always idempotent). */
  retry: Retry;
}

/** One Tinker-compatible service: requests, retries and futures. Counts what it did (bench, tests). */
export class TinkerHttp {
  readonly url: string;
  requests = 0;
  retried = 0;
  polls = 0;

  constructor(readonly o: TinkerHttpOptions) {
    this.url = o.url.replace(/\/+$/, '');
  }

  /** A request whose JSON answer must match `schema`; retried as `retry` allows. */
  async call<S extends z.ZodType>(method: 'GET' | 'POST', endpoint: string, body: unknown, schema: S, retry: Retry): Promise<z.infer<S>> {
    const json = await this.send(method, endpoint, body, retry);
    return this.parse(schema, json, `${method} ${endpoint}`);
  }

  /**
   * Submits a request answered by a future (`{request_id}`), then polls retrieve_future until the result, which
   * must match `schema`. A result that never comes ends after `futureTimeoutMs` with one line.
   */
  async future<S extends z.ZodType>(endpoint: string, body: unknown, schema: S, f: FutureOptions): Promise<z.infer<S>> {
    const where = `POST ${endpoint}`;
    const accepted = await this.send('POST', endpoint, body, f.retry);
    const id = (accepted as { request_id?: unknown } | null)?.request_id;
    if (typeof id !== 'string' && typeof id !== 'number') throw new RemoteError(`tinker ${where}: malformed response: request_id: expected a string (the future's id)`);
    const deadline = performance.now() + this.o.futureTimeoutMs;
    let pause = this.o.pollMs ?? 20;
    for (;;) {
      const left = deadline - performance.now();
      if (left <= 0) throw new RemoteError(`tinker ${where}: future ${id} did not complete within ${this.o.futureTimeoutMs / 1000} s (POST /api/v1/retrieve_future); the service may be stuck or overloaded`);
      this.polls++;
      const r = await this.send('POST', '/api/v1/retrieve_future', { request_id: String(id) }, 'idempotent', { pending: true, timeoutMs: Math.min(this.o.requestTimeoutMs, left) });
      if (r !== PENDING) {
        const failed = failureOf(r);
        if (failed) throw new RemoteError(`tinker ${where}: the service failed the request (future ${id}): ${failed}`);
        return this.parse(schema, r, `${where} (future ${id})`);
      }
      await sleep(Math.min(pause, Math.max(0, deadline - performance.now())));
      pause = Math.min(1000, pause * 1.5);
    }
  }

  private parse<S extends z.ZodType>(schema: S, json: unknown, where: string): z.infer<S> {
    const r = schema.safeParse(json);
    if (r.success) return r.data;
    const issue = r.error.issues[0];
    throw new RemoteError(`tinker ${where}: malformed response: ${issue.path.length ? issue.path.join('.') : '(root)'}: ${issue.message}`);
  }

  /**
   * One request with its retries; the parsed JSON body. With `poll.pending`, a future not done yet (HTTP 408, a
   * `try_again` answer, or no answer within the poll's time limit) returns PENDING instead of failing.
   */
  private async send(method: 'GET' | 'POST', endpoint: string, body: unknown, retry: Retry, poll?: { pending: true; timeoutMs: number }): Promise<unknown> {
    const where = `tinker ${method} ${endpoint}`;
    for (let attempt = 0; ; attempt++) {
      try {
        this.requests++;
        return await this.attempt(method, endpoint, body, poll);
      } catch (e) {
        if (!(e instanceof Failure)) throw e;
        if (poll && e.timedOut) return PENDING; // a long poll that ran out: ask again
        if (!e.transient) throw new RemoteError(`${where}: ${e.message}`);
        if (retry === 'once' && !e.notTaken) {
          throw new RemoteError(`${where}: ${e.message}; not retried, since the service may have applied it (the run resumes from its last checkpoint)`);
        }
        if (attempt >= this.o.retries) throw new RemoteError(`${where}: ${e.message}; gave up after ${attempt + 1} tries (${this.url})`);
        this.retried++;
        const wait = this.backoff(attempt, e.retryAfterMs);
        this.o.log?.(`${where}: ${e.message}; retry ${attempt + 1} of ${this.o.retries} in ${(wait / 1000).toFixed(1)} s`);
        await sleep(wait);
      }
    }
  }

  private backoff(attempt: number, retryAfterMs?: number): number {
    const max = this.o.maxBackoffMs ?? 8000;
    if (retryAfterMs !== undefined) return Math.min(max, retryAfterMs);
    return Math.random() * Math.min(max, (this.o.backoffMs ?? 500) * 2 ** attempt);
  }

  private async attempt(method: 'GET' | 'POST', endpoint: string, body: unknown, poll?: { timeoutMs: number }): Promise<unknown> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.o.apiKey) {
      headers['x-api-key'] = this.o.apiKey;
      headers.authorization = `Bearer ${this.o.apiKey}`;
    }
    const timeoutMs = poll?.timeoutMs ?? this.o.requestTimeoutMs;
    let res: Response;
    let text: string;
    try {
      res = await fetch(`${this.url}${endpoint}`, {
        method,
        headers,
        body: method === 'POST' ? JSON.stringify(body) : undefined,
        signal: AbortSignal.timeout(Math.max(1, Math.ceil(timeoutMs))),
      });
      text = await res.text();
    } catch (e) {
      throw networkFailure(e, timeoutMs);
    }
    if (poll && res.status === 408) return PENDING;
    if (!res.ok) throw statusFailure(res.status, text, retryAfterMs(res));
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new Failure(`malformed response: not JSON (${detailOf(text) || 'empty body'})`, false, false);
    }
    if (poll && (json as { type?: unknown } | null)?.type === 'try_again') return PENDING;
    return json;
  }
}

/** A future not done yet. */
const PENDING = Symbol('pending');

/** The message of a future that failed on the server (Tinker's RequestFailedResponse: `{error, category}`), or null. */
function failureOf(r: unknown): string | null {
  if (typeof r !== 'object' || r === null) return null;
  const o = r as Record<string, unknown>;
  if (typeof o.error === 'string' && (o.type === 'request_failed' || 'category' in o || Object.keys(o).length <= 2)) {
    return o.error.replace(/\s+/g, ' ').slice(0, 300);
  }
  return null;
}
