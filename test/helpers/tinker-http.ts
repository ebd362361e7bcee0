/** A minimal Tinker HTTP client for the server tests: raw POST/GET, and a call that polls retrieve_future. */
import assert from 'node:assert/strict';

/** No request of a test waits longer than this (a hung server fails the test instead of hanging it). */
const TIMEOUT_MS = 120_000;

export interface Reply {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

export async function post(base: string, name: string, body: unknown, headers: Record<string, string> = {}): Promise<Reply> {
  const res = await fetch(`${base}/api/v1/${name}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body), signal: AbortSignal.timeout(TIMEOUT_MS) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

export async function get(base: string, name: string, headers: Record<string, string> = {}): Promise<Reply> {
  const res = await fetch(`${base}/api/v1/${name}`, { headers, signal: AbortSignal.timeout(TIMEOUT_MS) });
  return { status: res.status, body: await res.json() };
}

/** POSTs a future-returning call and polls retrieve_future until it is not try_again; returns the answer. */
export async function call(base: string, name: string, body: unknown, headers: Record<string, string> = {}): Promise<any> {
  const r = await post(base, name, body, headers);
  assert.equal(r.status, 200, `${name}: ${JSON.stringify(r.body)}`);
  assert.equal(typeof r.body.request_id, 'string', `${name} answers a future`);
  for (let i = 0; i < 1000; i++) {
    const f = await post(base, 'retrieve_future', { request_id: r.body.request_id }, headers);
    assert.equal(f.status, 200, `retrieve_future(${name}): ${JSON.stringify(f.body)}`);
    if (f.body?.type !== 'try_again') return f.body;
  }
  throw new Error(`${name}: never ready`);
}

/** call(), asserting success (no {error}). */
export async function ok(base: string, name: string, body: unknown, headers: Record<string, string> = {}): Promise<any> {
  const a = await call(base, name, body, headers);
  assert.ok(!('error' in a), `${name} failed: ${JSON.stringify(a)}`);
  return a;
}

/** max |a - b|, printed under `what`; asserts it is <= tol. */
export function expectMaxDiff(what: string, a: number[], b: number[], tol: number): number {
  assert.equal(a.length, b.length, `${what}: length ${a.length} vs ${b.length}`);
  const d = a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);
  console.log(`  ${what}: max abs diff ${d.toExponential(2)}`);
  assert.ok(d <= tol, `${what}: max abs difference ${d.toExponential(3)} > ${tol}`);
  return d;
}

export const textInput = (tokens: number[]) => ({ chunks: [{ type: 'encoded_text', tokens }] });
