/**
 * TinkerBackend's requests against a scripted service: what it sends for each primitive (seeds, sampler path,
 * datums, Adam params, skips), what it makes of the answers, and how it refuses to checkpoint a state it cannot
 * know. The whole loop over real HTTP is test/tinker-train.test.ts.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, beforeEach, test } from 'node:test';
import { requestChunks, TinkerBackend } from '../src/backend/tinker.ts';
import { InputError, ModelFormatError, RemoteError } from '../src/errors.ts';
import { FakeTinker } from './helpers/fake-tinker.ts';

let fake: FakeTinker;
let results: unknown[] = [];
let extensions: string[] = [];
/** A reply for each future-returning endpoint, by path. */
const answers = new Map<string, (body: any, n: number) => unknown>();

before(async () => {
  fake = await FakeTinker.start();
  const future = (p: string) =>
    fake.on(p, (body, n) => {
      const a = answers.get(p);
      if (!a) return { status: 500, body: { detail: `no answer scripted for ${p}` } };
      const r = a(body, n);
      if (r && typeof r === 'object' && 'status' in r) return r as { status: number };
      results.push(r);
      return { body: { request_id: String(results.length - 1) } };
    });
  fake.on('/api/v1/healthz', () => ({ body: { status: 'ok' } }));
  fake.on('/api/v1/get_server_capabilities', () => ({ body: { supported_models: [{ model_name: 'tiny' }], selfplay_extensions: extensions } }));
  fake.on('/api/v1/create_session', () => ({ body: { session_id: 's1' } }));
  fake.on('/api/v1/get_info', () => {
    const made = fake.calls.filter((c) => c.path === '/api/v1/create_model').at(-1)?.body as { lora_config?: { rank: number } | null };
    return { body: { model_id: 'm1', model_data: {}, lora_rank: made?.lora_config?.rank ?? 0, is_lora: Boolean(made?.lora_config) } };
  });
  fake.on('/api/v1/retrieve_future', (b) => ({ body: results[Number((b as { request_id: string }).request_id)] }));
  for (const p of ['create_model', 'asample', 'forward_backward', 'optim_step', 'save_weights', 'save_weights_for_sampler', 'load_weights', 'compute_logprobs']) future(`/api/v1/${p}`);
});
after(async () => {
  await fake.close();
});

let saves = 0;
beforeEach(() => {
  extensions = [];
  results = [];
  fake.calls.length = 0;
  answers.clear();
  answers.set('/api/v1/create_model', () => ({ model_id: 'm1' }));
  answers.set('/api/v1/save_weights_for_sampler', (b) => ({ path: `tinker://m1/sampler_weights/${b.path}` }));
  answers.set('/api/v1/save_weights', (b) => ({ path: `tinker://m1/weights/${b.path}-${saves++}` }));
  answers.set('/api/v1/load_weights', (b) => ({ path: b.path }));
});

const lora = { rank: 4, alpha: 8, targets: ['q_proj', 'v_proj'] as ('q_proj' | 'v_proj')[] };
function backend(o: Partial<ConstructorParameters<typeof TinkerBackend>[0]> = {}): TinkerBackend {
  return new TinkerBackend({
    http: { url: fake.url, apiKey: null, retries: 2, requestTimeoutMs: 2000, futureTimeoutMs: 2000, backoffMs: 1, maxBackoffMs: 2, pollMs: 1 },
    baseModel: null,
    lora,
    seed: 3,
    adam: { weightDecay: 0, gradClip: 1 },
    runName: 'r',
    ...o,
  });
}
const bodies = (p: string) => fake.calls.filter((c) => c.path === `/api/v1/${p}`).map((c) => c.body as any);
const params = { temperature: 1, topP: 1, topK: 0, maxTokens: 4, seed: 100, stop: [2] };

test('connect makes a LoRA model on the one base model and samples from the weights saved for the sampler, one prompt per request (seed + i)', async () => {
  const b = backend();
  await b.connect();
  assert.deepEqual(bodies('create_model')[0].lora_config, { rank: 4, seed: 3, train_attn: true, train_mlp: false, train_unembed: false });
  assert.equal(bodies('create_model')[0].base_model, 'tiny');
  // answers in reverse order of arrival (the later prompts answer first): the result keeps prompt order
  answers.set('/api/v1/asample', (body) => ({
    sequences: [0, 1].map((j) => ({ stop_reason: 'length', tokens: [body.prompt.chunks[0].tokens[0], j], logprobs: [-1, -2] })),
  }));
  const gens = await b.policy.sample([[10], [11], [12]], 2, params);
  assert.deepEqual(gens.map((g) => g.tokens), [[10, 0], [10, 1], [11, 0], [11, 1], [12, 0], [12, 1]]);
  const sent = bodies('asample');
  assert.deepEqual(sent.map((x) => x.sampling_params.seed).sort(), [100, 101, 102]);
  for (const x of sent) {
    assert.equal(x.model_path, 'tinker://m1/sampler_weights/r-sampler-0');
    assert.equal(x.sampling_params.top_k, -1);
    assert.deepEqual(x.sampling_params.stop, [2]);
  }
});

test('with batch_sample and compute_logprobs, one request each; the reference is the base model', async () => {
  extensions = ['batch_sample', 'compute_logprobs', 'full_finetune'];
  const b = backend({ lora: null });
  await b.connect();
  assert.equal(bodies('create_model')[0].lora_config, null);
  answers.set('/api/v1/asample', (body) => ({ sequences: body.prompts.flatMap(() => [{ stop_reason: 'stop', tokens: [2], logprobs: [-0.5] }]) }));
  const gens = await b.reference.sample([[1], [1, 5]], 1, params);
  assert.equal(bodies('asample').length, 1);
  assert.equal(bodies('asample')[0].base_model, 'tiny');
  assert.deepEqual(gens[1], { tokens: [2], logprobs: [-0.5], finishReason: 'eos' });
  answers.set('/api/v1/compute_logprobs', (body) => ({ logprobs: body.rows.map((r: { tokens: number[] }) => r.tokens.map(() => -1)) }));
  assert.deepEqual(await b.reference.logprobs([{ promptIds: [1, 2], tokens: [3, 4] }], 8), [[-1, -1]]);
  assert.equal(bodies('compute_logprobs')[0].micro_batch, 8);
});

test('reference log-probs without the extension: prompt_logprobs of prompt + tokens, the tokens\' part', async () => {
  const b = backend();
  await b.connect();
  answers.set('/api/v1/asample', (body) => {
    const t = body.prompt.chunks[0].tokens as number[];
    return { sequences: [{ stop_reason: 'length', tokens: [0], logprobs: [0] }], prompt_logprobs: [null, ...t.slice(1).map((x) => -x)] };
  });
  assert.deepEqual(await b.reference.logprobs([{ promptIds: [1, 2], tokens: [3, 4] }, { promptIds: [7], tokens: [8] }], 4), [[-3, -4], [-8]]);
  assert.equal(bodies('asample')[0].prompt_logprobs, true);
});

test('forward_backward sends importance_sampling datums; a 500 is not retried, and no checkpoint is made after it', async () => {
  const b = backend();
  await b.connect();
  const row = { promptIds: [1, 2], tokens: [3, 4], samplerLogprobs: [-1, -2], refLogprobs: [-1, -1], advantage: 1, klCoef: 0, tokenAdvantages: [0.5, 0.25] };
  answers.set('/api/v1/forward_backward', () => ({ loss_fn_output_type: 'importance_sampling', loss_fn_outputs: [{ logprobs: { data: [0, -1.5, -2], dtype: 'float32' } }], metrics: { 'loss:sum': -0.75 } }));
  const r = await b.forwardBackward([row], 'importance_sampling', 4);
  assert.deepEqual(r, { loss: -0.75, logpDiff: 0.5, tokens: 2 });
  const datum = bodies('forward_backward')[0].forward_backward_input.data[0];
  assert.deepEqual(datum.model_input.chunks[0].tokens, [1, 2, 3]);
  assert.deepEqual(datum.loss_fn_inputs.advantages.data, [0, 0.5, 0.25]);
  await assert.rejects(b.forwardBackward([row], 'policy_reward', 4), InputError);
  await b.flush('iter-000001');
  answers.set('/api/v1/forward_backward', () => ({ status: 500 }));
  const calls = bodies('forward_backward').length;
  await assert.rejects(b.forwardBackward([row], 'importance_sampling', 4), (e: Error) => e instanceof RemoteError && /HTTP 500; not retried/.test(e.message));
  assert.equal(bodies('forward_backward').length, calls + 1);
  await assert.rejects(b.flush('iter-000002'), (e: Error) => e instanceof RemoteError && /not checkpointing: forward_backward failed/.test(e.message));
});

test('optim_step: Adam params with the fixed settings; a skip is optim_skip, or a step at learning rate 0 without it', async () => {
  const b = backend();
  await b.connect();
  answers.set('/api/v1/optim_step', (body) => ({ metrics: { grad_norm: 2.5, applied: body.skip ? 0 : 1 } }));
  assert.deepEqual(await b.optimStep({ learningRate: 0.01 }), { gradNorm: 2.5, applied: true });
  assert.deepEqual(bodies('optim_step')[0].adam_params, { learning_rate: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0, grad_clip_norm: 1 });
  assert.deepEqual(await b.optimStep({ learningRate: 0.01 }, true), { gradNorm: 2.5, applied: false });
  assert.equal(bodies('optim_step')[1].adam_params.learning_rate, 0);
  extensions = ['optim_skip'];
  const c = backend();
  await c.connect();
  await c.optimStep({ learningRate: 0.01 }, true);
  assert.equal(bodies('optim_step')[2].skip, true);
  assert.equal(bodies('optim_step')[2].adam_params.learning_rate, 0.01);
});

test('checkpoints: remote.json records the saved path; a resume loads it (with the optimizer when offered); a damaged one is a ModelFormatError', async () => {
  extensions = ['load_optimizer'];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tinker-ckpt-'));
  try {
    const b = backend();
    await b.connect();
    await b.flush('iter-000002');
    b.saveState(dir);
    const saved = JSON.parse(fs.readFileSync(path.join(dir, 'remote.json'), 'utf8'));
    assert.match(saved.statePath, /^tinker:\/\/m1\/weights\/r-iter-000002-\d+$/);
    const c = backend();
    c.loadState(dir, { optimizerStep: 2 });
    await c.connect();
    assert.deepEqual(bodies('load_weights').at(-1), { model_id: 'm1', path: saved.statePath, optimizer: true });
    fs.writeFileSync(path.join(dir, 'remote.json'), JSON.stringify({ ...saved, statePath: 7 }));
    assert.throws(() => backend().loadState(dir, { optimizerStep: 2 }), (e: Error) => e instanceof ModelFormatError && /remote\.json: statePath: /.test(e.message));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('full fine-tuning needs the service\'s full_finetune; an unknown --base-model names what it offers; get_info must agree', async () => {
  await assert.rejects(backend({ lora: null }).connect(), (e: Error) => e instanceof InputError && /trains LoRA adapters only/.test(e.message));
  await assert.rejects(backend({ baseModel: 'llama-70b' }).connect(), (e: Error) => e instanceof InputError && /--base-model llama-70b: the service .* offers tiny/.test(e.message));
  answers.set('/api/v1/create_model', (b) => ({ model_id: 'm1', ignored: b }));
  const other = backend({ lora: { ...lora, rank: 8 } });
  fake.on('/api/v1/get_info', () => ({ body: { model_id: 'm1', model_data: {}, lora_rank: 4, is_lora: true } }));
  await assert.rejects(other.connect(), (e: Error) => e instanceof RemoteError && /get_info: model m1 has LoRA rank 4, asked for 8/.test(e.message));
});

test('a batch too large for one request is split at whole micro-batches; a small one is one request', () => {
  const row = (n: number) => ({ promptIds: [1], tokens: new Array<number>(n).fill(2) });
  const small = Array.from({ length: 32 }, () => row(64));
  assert.deepEqual(requestChunks(small, 8), [small]);
  const big = Array.from({ length: 40 }, () => row(20_000)); // ~2 MB each by the estimate: 8 per 16 MiB request
  const chunks = requestChunks(big, 4);
  assert.deepEqual(chunks.map((c) => c.length), [8, 8, 8, 8, 8]);
  assert.deepEqual(chunks.flat(), big);
});

test('forwardBackwardCrossEntropy sends cross_entropy datums: prompt positions weigh 0, then the row\'s weights', async () => {
  const b = backend();
  await b.connect();
  answers.set('/api/v1/forward_backward', () => ({ loss_fn_output_type: 'cross_entropy', loss_fn_outputs: [], metrics: { 'loss:sum': 1.25 } }));
  assert.deepEqual(await b.forwardBackwardCrossEntropy([{ promptIds: [5, 6], tokens: [7, 8], weights: [0.5, 0.5] }], 4), { loss: 1.25, tokens: 2 });
  const input = bodies('forward_backward')[0].forward_backward_input;
  assert.equal(input.loss_fn, 'cross_entropy');
  assert.deepEqual(input.data[0].model_input.chunks[0].tokens, [5, 6, 7]);
  assert.deepEqual(input.data[0].loss_fn_inputs.target_tokens.data, [6, 7, 8]);
  assert.deepEqual(input.data[0].loss_fn_inputs.weights.data, [0, 0.5, 0.5]);
});
