/**
 * The Tinker client's transport against a scripted server: what is retried (429, 5xx, refused connections, slow
 * futures), what is not (a training call the server may have applied, 401, a malformed answer), and that every
 * failure is one line naming the endpoint and the status or field.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { z } from 'zod';
import { TinkerHttp, type TinkerHttpOptions } from '../src/backend/tinker-http.ts';
import { RemoteError } from '../src/errors.ts';
import { FakeTinker } from './helpers/fake-tinker.ts';

let fake: FakeTinker;
before(async () => {
  fake = await FakeTinker.start();
});
after(async () => {
  await fake.close();
});

const ok = z.object({ value: z.number() });
const client = (o: Partial<TinkerHttpOptions> = {}) =>
  new TinkerHttp({ url: fake.url, apiKey: 'k', retries: 3, requestTimeoutMs: 2000, futureTimeoutMs: 2000, backoffMs: 1, maxBackoffMs: 5, pollMs: 1, ...o });

/** The RemoteError `p` rejects with (anything else fails the test). */
async function remoteError(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof RemoteError, `expected a RemoteError, got ${(e as Error).name}: ${(e as Error).message}`);
    assert.ok(!e.message.includes('\n'), `one line: ${e.message}`);
    return e.message;
  }
  assert.fail('expected a failure');
}

test('429 and 500 on an idempotent call are retried, with the API key on every try', async () => {
  fake.on('/t/a', (_b, n) => (n === 0 ? { status: 429, headers: { 'retry-after': '0' } } : n === 1 ? { status: 500 } : { body: { value: 7 } }));
  const c = client();
  assert.deepEqual(await c.call('POST', '/t/a', {}, ok, 'idempotent'), { value: 7 });
  assert.equal(fake.count('/t/a'), 3);
  assert.equal(c.retried, 2);
  for (const call of fake.calls.filter((x) => x.path === '/t/a')) assert.equal(call.headers['x-api-key'], 'k');
});

test('a training call is retried after 429 and 503 (not taken), but not after 500 (maybe applied)', async () => {
  fake.on('/t/b', (_b, n) => (n === 0 ? { status: 429 } : n === 1 ? { status: 503 } : { body: { value: 1 } }));
  assert.deepEqual(await client().call('POST', '/t/b', {}, ok, 'once'), { value: 1 });
  fake.on('/t/c', () => ({ status: 500, body: { detail: 'boom' } }));
  const msg = await remoteError(client().call('POST', '/t/c', {}, ok, 'once'));
  assert.equal(fake.count('/t/c'), 1, msg);
  assert.match(msg, /POST \/t\/c: HTTP 500 \(boom\); not retried/);
});

test('a dropped connection is retried for an idempotent call only', async () => {
  fake.on('/t/d', (_b, n) => (n === 0 ? { destroy: true } : { body: { value: 2 } }));
  assert.deepEqual(await client().call('POST', '/t/d', {}, ok, 'idempotent'), { value: 2 });
  fake.on('/t/e', () => ({ destroy: true }));
  const msg = await remoteError(client().call('POST', '/t/e', {}, ok, 'once'));
  assert.equal(fake.count('/t/e'), 1, msg);
  assert.match(msg, /POST \/t\/e: connection failed .*not retried/);
});

test('5xx that never ends gives up after the retries, naming the endpoint and status', async () => {
  fake.on('/t/f', () => ({ status: 502 }));
  const msg = await remoteError(client({ retries: 2 }).call('GET', '/t/f', null, ok, 'idempotent'));
  assert.equal(fake.count('/t/f'), 3);
  assert.match(msg, /^tinker GET \/t\/f: HTTP 502.*gave up after 3 tries/);
});

test('401 is one line pointing at the API key, never retried', async () => {
  fake.on('/t/g', () => ({ status: 401, body: { detail: 'invalid api key' } }));
  const msg = await remoteError(client().call('POST', '/t/g', {}, ok, 'idempotent'));
  assert.equal(fake.count('/t/g'), 1);
  assert.match(msg, /POST \/t\/g: HTTP 401 \(invalid api key\).*TINKER_API_KEY/);
});

test('a malformed answer names the endpoint and the field; a body that is not JSON names the endpoint', async () => {
  fake.on('/t/h', () => ({ body: { value: 'seven' } }));
  assert.match(await remoteError(client().call('POST', '/t/h', {}, ok, 'idempotent')), /POST \/t\/h: malformed response: value: /);
  fake.on('/t/i', () => ({ raw: '<html>oops' }));
  assert.match(await remoteError(client().call('POST', '/t/i', {}, ok, 'idempotent')), /POST \/t\/i: malformed response: not JSON \(<html>oops\)/);
});

test('a slow future is polled (try_again, 408) until its result', async () => {
  fake.on('/t/fut', () => ({ body: { request_id: '41' } }));
  fake.on('/api/v1/retrieve_future', (b, n) => {
    assert.deepEqual(b, { request_id: '41' });
    if (n < 3) return { body: { type: 'try_again', request_id: '41' } };
    if (n < 5) return { status: 408, body: { detail: 'not yet' } };
    return { body: { value: 3 } };
  });
  const c = client();
  assert.deepEqual(await c.future('/t/fut', {}, ok, { retry: 'once' }), { value: 3 });
  assert.equal(c.polls, 6);
});

test('a future that never completes ends after the poll time limit with one line', async () => {
  fake.on('/t/stuck', () => ({ body: { request_id: 'x9' } }));
  fake.on('/api/v1/retrieve_future', () => ({ body: { type: 'try_again' } }));
  // the message says the poll limit ended it (no wall-clock bound here: the test timeout catches a hang)
  const msg = await remoteError(client({ futureTimeoutMs: 300 }).future('/t/stuck', {}, ok, { retry: 'once' }));
  assert.match(msg, /POST \/t\/stuck: future x9 did not complete within 0\.3 s/);
});

test('a future the server failed is one line with its error; a future answer missing a field names it', async () => {
  fake.on('/t/fail', () => ({ body: { request_id: 5 } }));
  fake.on('/api/v1/retrieve_future', () => ({ body: { error: 'out of memory', category: 'server' } }));
  assert.match(await remoteError(client().future('/t/fail', {}, ok, { retry: 'once' })), /POST \/t\/fail: the service failed the request \(future 5\): out of memory/);
  fake.on('/api/v1/retrieve_future', () => ({ body: { other: 1 } }));
  assert.match(await remoteError(client().future('/t/fail', {}, ok, { retry: 'once' })), /POST \/t\/fail \(future 5\): malformed response: value: /);
  fake.on('/t/noid', () => ({ body: { status: 'pending' } }));
  assert.match(await remoteError(client().future('/t/noid', {}, ok, { retry: 'once' })), /POST \/t\/noid: malformed response: request_id/);
});

test('a dead server: refused connections are retried (nothing was sent), then one line naming the URL', async () => {
  const dead = await FakeTinker.start();
  const url = dead.url;
  await dead.close();
  const c = new TinkerHttp({ url, apiKey: null, retries: 2, requestTimeoutMs: 1000, futureTimeoutMs: 1000, backoffMs: 1, maxBackoffMs: 2 });
  const msg = await remoteError(c.call('POST', '/api/v1/optim_step', {}, ok, 'once'));
  assert.equal(c.retried, 2, msg);
  assert.match(msg, /POST \/api\/v1\/optim_step: connection failed \(ECONNREFUSED\); gave up after 3 tries/);
  assert.ok(msg.includes(url));
});
