/**
 * `selfplay serve --tinker` refuses what it must: requests without the API key (both header forms accepted, a
 * near-miss refused), a non-loopback bind without a key (tinker and chat servers), checkpoint names and paths that
 * would leave --state-dir (including a symbolic link planted inside it, which only the real-path check catches),
 * more models/sessions/pending futures than its bounds, bodies over the limit (413), a wrong content type (415) and
 * wrong schemas (400 naming the field); unknown routes and futures are 404.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { InputError } from '../src/errors.ts';
import { ChatModel } from '../src/generate/chat.ts';
import { Runtime } from '../src/runtime/runtime.ts';
import { isLoopback } from '../src/serve/auth.ts';
import { startServer } from '../src/serve/server.ts';
import { FutureStore } from '../src/serve/tinker/futures.ts';
import { findBaseModels } from '../src/serve/tinker/registry.ts';
import { type RunningTinkerServer, startTinkerServer, type TinkerServeOptions } from '../src/serve/tinker/server.ts';
import { checkpointDir, existingInside } from '../src/serve/tinker/state-dir.ts';
import { finite } from '../src/serve/tinker/train-ops.ts';
import { call, get, ok, post } from './helpers/tinker-http.ts';
import { tinyWorldModel } from './helpers/tiny-world-model.ts';

const model = tinyWorldModel(6);
const base = path.basename(model);
const runtime = new Runtime({ threads: 1 });
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tinker-sec-'));
const stateDir = path.join(root, 'state');
const servers: { close(ms?: number): Promise<void> }[] = [];
after(async () => {
  for (const s of servers) await s.close(200);
  await runtime.release();
  fs.rmSync(root, { recursive: true, force: true });
});

async function serve(o: Partial<TinkerServeOptions> = {}): Promise<RunningTinkerServer> {
  const s = await startTinkerServer({ bases: findBaseModels([model], []), stateDir, runtime, host: '127.0.0.1', port: 0, ...o, limits: { longPollMs: 1000, ...o.limits } });
  servers.push(s);
  return s;
}

test('the API key: refused without it or with a near-miss (401), accepted as X-API-Key and as Bearer', async () => {
  const { url } = await serve({ apiKey: 's3cret-key' });
  assert.equal((await get(url, 'healthz')).status, 401);
  assert.match((await get(url, 'healthz')).body.detail, /unauthorized/);
  for (const wrong of ['s3cret-ke', 's3cret-key2', 'S3cret-key', '']) assert.equal((await get(url, 'healthz', { 'x-api-key': wrong })).status, 401, JSON.stringify(wrong));
  assert.equal((await post(url, 'create_session', { tags: [], sdk_version: 'x' })).status, 401, 'checked on POSTs too, before the body is parsed');
  assert.deepEqual((await get(url, 'healthz', { 'x-api-key': 's3cret-key' })).body, { status: 'ok' });
  assert.equal((await get(url, 'healthz', { authorization: 'Bearer s3cret-key' })).status, 200);
  assert.equal((await get(url, 'get_server_capabilities', { authorization: 'Bearer s3cret-key' })).body.supported_models[0].model_name, base);
});

test('beyond loopback only with a key, for both servers; loopback recognised', async () => {
  await assert.rejects(startTinkerServer({ bases: findBaseModels([model], []), stateDir, runtime, host: '0.0.0.0', port: 0 }), (e: Error) => e instanceof InputError && /--api-key/.test(e.message));
  const chat = ChatModel.load(model, runtime, 'chat-sec');
  await assert.rejects(startServer({ chat, modelId: 'm', host: '0.0.0.0', port: 0 }), (e: Error) => e instanceof InputError && /--api-key/.test(e.message));
  const s = await startServer({ chat, modelId: 'm', host: '127.0.0.1', port: 0, apiKey: 'k' });
  servers.push(s);
  const models = (headers: Record<string, string>) => fetch(`${s.url}/models`, { headers }).then((r) => r.status);
  assert.equal(await models({}), 401, 'the chat server checks the key too');
  assert.equal(await models({ authorization: 'Bearer k' }), 200);
  for (const h of ['127.0.0.1', '127.3.2.1', '::1', '[::1]', 'localhost', '::ffff:127.0.0.1']) assert.ok(isLoopback(h), h);
  for (const h of ['0.0.0.0', '::', '10.0.0.1', '192.168.1.2', 'example.com', '128.0.0.1']) assert.ok(!isLoopback(h), h);
});

test('checkpoints never leave --state-dir: names with .., slashes or absolute paths are 400; a planted symbolic link is refused', async () => {
  const { url } = await serve();
  const { model_id: id } = await ok(url, 'create_model', { base_model: base });
  const before = fs.readdirSync(root).sort();
  for (const bad of ['..', '../evil', 'a/b', '/tmp/evil', '..\\evil', 'x/../../evil']) {
    for (const name of ['save_weights', 'save_weights_for_sampler']) {
      const r = await post(url, name, { model_id: id, path: bad });
      assert.equal(r.status, 400, `${name} ${bad}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.param, 'path');
    }
  }
  for (const bad of ['tinker://../weights/x', 'tinker://m/weights/..', `tinker://${id}/weights/..%2F..`, '/etc/passwd', '../../x', 'tinker://a/weights/b/c']) {
    const r = await post(url, 'load_weights', { model_id: id, path: bad });
    assert.equal(r.status, 400, `load_weights ${bad}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.param, 'path');
  }
  const s = await post(url, 'asample', { prompt: { chunks: [{ tokens: [1] }] }, sampling_params: { max_tokens: 1 }, model_path: 'tinker://../sampler_weights/x' });
  assert.equal(s.status, 400);
  assert.deepEqual(fs.readdirSync(root).sort(), before, 'nothing was written beside the state dir');
  // a real checkpoint copied outside, reached through a link planted inside the state dir: only the real-path check stops it
  await ok(url, 'save_weights', { model_id: id, path: 'good' });
  const outside = path.join(root, 'outside-ckpt');
  fs.cpSync(path.join(stateDir, id, 'weights', 'good'), outside, { recursive: true });
  fs.symlinkSync(outside, path.join(stateDir, id, 'weights', 'linked'));
  const viaLink = await call(url, 'load_weights', { model_id: id, path: `tinker://${id}/weights/linked` });
  assert.equal(viaLink.category, 'user');
  assert.match(viaLink.error, /outside the state dir/);
  // and a save through a planted link is refused before anything is written
  fs.mkdirSync(path.join(root, 'elsewhere'));
  fs.symlinkSync(path.join(root, 'elsewhere'), path.join(stateDir, 'planted'));
  assert.throws(() => existingInside(stateDir, path.join(stateDir, 'planted'), 'x'), /outside the state dir/);
  assert.throws(() => checkpointDir(stateDir, '..', 'weights', 'x'), /model id/);
  assert.deepEqual(fs.readdirSync(path.join(root, 'elsewhere')), []);
});

test('bounds: models and sessions per client (429), pending futures (429), answers expire (410), unknown ids (404)', async () => {
  const { url } = await serve({ limits: { maxModels: 1, maxSessionsPerClient: 2 } });
  await ok(url, 'create_model', { base_model: base });
  const second = await post(url, 'create_model', { base_model: base });
  assert.equal(second.status, 429);
  assert.match(second.body.detail, /limit 1/);
  for (let i = 0; i < 2; i++) assert.equal((await post(url, 'create_session', { tags: [], sdk_version: 't' })).status, 200);
  assert.equal((await post(url, 'create_session', { tags: [], sdk_version: 't' })).status, 429);
  assert.equal((await post(url, 'retrieve_future', { request_id: 'nope-1' })).status, 404);
  // the store itself: a blocked queue, a pending bound of 2, a short answer lifetime
  const store = new FutureStore({ maxPendingPerClient: 2, ttlMs: 50 });
  let release = () => {};
  const gate = new Promise<void>((r) => (release = r));
  const a = store.submit('c', () => gate);
  store.submit('c', async () => 2);
  assert.throws(() => store.submit('c', async () => 3), (e: Error & { status?: number }) => e.status === 429);
  store.submit('other', async () => 4);
  assert.deepEqual(await store.retrieve(a, 10), { done: false });
  release();
  assert.deepEqual(await store.retrieve(a, 1000), { done: true, ok: true, value: undefined });
  await new Promise((r) => setTimeout(r, 80));
  (store as unknown as { sweep(): void }).sweep();
  await assert.rejects(store.retrieve(a, 0), (e: Error & { status?: number }) => e.status === 410);
  store.close();
});

test('bad requests: 400 naming the field, 413 over the body limit, 415, 404 and 405; a failed call is {error, category}', async () => {
  const { url } = await serve({ maxBodyBytes: 4096 });
  const cases: [string, unknown, string][] = [
    ['create_model', { base_model: 5 }, 'base_model'],
    ['create_model', { base_model: base, lora_config: { rank: -1 } }, 'lora_config.rank'],
    ['create_model', { base_model: base, surprise: 1 }, 'surprise'],
    ['forward_backward', { model_id: 'm', forward_backward_input: { data: [], loss_fn: 'nll' } }, 'forward_backward_input.loss_fn'],
    ['asample', { prompt: { chunks: [{ tokens: [1] }] }, sampling_params: { max_tokens: 0 }, base_model: base }, 'sampling_params.max_tokens'],
    ['asample', { prompt: { chunks: [{ tokens: [1] }] }, sampling_params: { max_tokens: 2, stop: ['\n'] }, base_model: base }, 'sampling_params.stop'],
  ];
  for (const [name, body, param] of cases) {
    const r = await post(url, name, body);
    assert.equal(r.status, 400, `${name} ${JSON.stringify(body)}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.param, param, r.body.detail);
  }
  const unknownBase = await post(url, 'create_model', { base_model: 'nope' });
  assert.equal(unknownBase.status, 404);
  assert.match(unknownBase.body.detail, new RegExp(`served: ${base}`));
  const { model_id: id } = await ok(url, 'create_model', { base_model: base });
  const shifted = await post(url, 'forward_backward', { model_id: id, forward_backward_input: { loss_fn: 'cross_entropy', data: [{ model_input: { chunks: [{ tokens: [1, 2, 3] }] }, loss_fn_inputs: { target_tokens: { data: [2, 9, 4], dtype: 'int64' } } }] } });
  assert.equal(shifted.status, 400);
  assert.equal(shifted.body.param, 'forward_backward_input.data.0.loss_fn_inputs.target_tokens');
  const big = await post(url, 'create_session', { tags: ['x'.repeat(5000)], sdk_version: 't' });
  assert.equal(big.status, 413);
  const text = await fetch(`${url}/api/v1/create_session`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{}' });
  assert.equal(text.status, 415);
  await text.text();
  assert.equal((await post(url, 'no_such_endpoint', {})).status, 404);
  assert.equal((await get(url, 'create_model')).status, 405);
  const badJson = await post(url, 'create_session', '{"tags": [');
  assert.equal(badJson.status, 400);
  // a fault found while working is the future's {error, category: user}
  const seq = await call(url, 'asample', { prompt: { chunks: [{ tokens: [1] }] }, sampling_params: { max_tokens: 2 }, model_path: 'tinker://model_x/sampler_weights/none' });
  assert.equal(seq.category, 'user');
  assert.match(seq.error, /no such checkpoint/);
});

test('what JSON cannot carry stays out: non-finite metrics are dropped, a datum output with one is {}', () => {
  const out = finite({
    loss_fn_output_type: 'importance_sampling',
    loss_fn_outputs: [{ logprobs: { data: [-1, Number.NEGATIVE_INFINITY], dtype: 'float32' } }, { logprobs: { data: [-2], dtype: 'float32' } }],
    metrics: { 'loss:sum': Number.NaN, 'tokens:sum': 3, 'logp_diff:max': Number.POSITIVE_INFINITY },
  });
  assert.deepEqual(out.metrics, { 'tokens:sum': 3 });
  assert.deepEqual(out.loss_fn_outputs, [{}, { logprobs: { data: [-2], dtype: 'float32' } }]);
  assert.ok(!JSON.stringify(out).includes('null'));
});
