/**
 * `selfplay serve --tinker` over real HTTP on a tiny world model: every training endpoint against LocalBackend run
 * directly in this process with the same settings --
 * (a) sample (batched `prompts`), reference log-probs, an importance_sampling step, a cross_entropy step and forward
 *     give the same tokens and the same numbers (max differences printed);
 * (b) save_weights, then a NEW server on the same --state-dir: create_model + load_weights (with the optimizer)
 *     continues exactly where the local backend is; named sampler weights survive the restart;
 * (c) LoRA through the server equals LoRA locally.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import type { TrainRow } from '../src/backend/backend.ts';
import { LocalBackend } from '../src/backend/local.ts';
import { importanceSamplingDatum } from '../src/backend/tinker-schemas.ts';
import type { LoraConfig } from '../src/model/lora.ts';
import { Runtime } from '../src/runtime/runtime.ts';
import { findBaseModels } from '../src/serve/tinker/registry.ts';
import { type RunningTinkerServer, startTinkerServer } from '../src/serve/tinker/server.ts';
import { call, expectMaxDiff, ok, textInput } from './helpers/tinker-http.ts';
import { tinyWorldModel } from './helpers/tiny-world-model.ts';

const model = tinyWorldModel(5);
const runtime = new Runtime({ threads: 1 });
const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tinker-state-'));
const servers: RunningTinkerServer[] = [];
after(async () => {
  for (const s of servers) await s.close(500);
  await runtime.release();
  fs.rmSync(stateDir, { recursive: true, force: true });
});

async function serve(): Promise<string> {
  const s = await startTinkerServer({ bases: findBaseModels([model], []), stateDir, runtime, host: '127.0.0.1', port: 0, limits: { longPollMs: 2000 } });
  servers.push(s);
  return s.url;
}

const ADAM = { lr: 0.05, weightDecay: 0.01, gradClip: 1 };
const WIRE_ADAM = { learning_rate: 0.05, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.01, grad_clip_norm: 1 };
const local = (lora: LoraConfig | null = null) => {
  const b = new LocalBackend({ model, chatTemplate: null, lora, seed: 0, runtime, adam: ADAM });
  b.start();
  return b;
};
const SAMPLING = { max_tokens: 6, seed: 9, temperature: 1, top_k: -1, top_p: 1, stop: [] as number[] };
const LOCAL_SAMPLING = { temperature: 1, topP: 1, topK: 0, maxTokens: 6, seed: 9, stop: [] as number[] };

const base = path.basename(model);
let prompts: number[][] = [];

/** Rows of a sample with per-token advantages, as an LSP iteration builds them (refs from the frozen base). */
async function sampledRows(url: string, b: LocalBackend, modelId: string): Promise<TrainRow[]> {
  prompts = [b.referenceModel.promptIds('reverse: a b c'), b.referenceModel.promptIds('count the words: x y')];
  const { path: p } = await ok(url, 'save_weights_for_sampler', { model_id: modelId });
  const remote = await ok(url, 'asample', { prompt: textInput([]), prompts: prompts.map(textInput), num_samples: 2, model_path: p, sampling_params: SAMPLING });
  const gens = await b.policy.sample(prompts, 2, LOCAL_SAMPLING);
  assert.deepEqual(remote.sequences.map((s: { tokens: number[] }) => s.tokens), gens.map((g) => g.tokens), 'the server samples the tokens the local backend samples');
  expectMaxDiff('sampler log-probs', remote.sequences.flatMap((s: { logprobs: number[] }) => s.logprobs), gens.flatMap((g) => g.logprobs), 0);
  const rows = gens.map((g, i) => ({ promptIds: prompts[Math.floor(i / 2)], tokens: g.tokens }));
  const refs = await ok(url, 'compute_logprobs', { base_model: base, rows: rows.map((r) => ({ prompt: r.promptIds, tokens: r.tokens })), micro_batch: 4 });
  const want = await b.reference.logprobs(rows, 4);
  expectMaxDiff('reference log-probs', refs.logprobs.flat(), want.flat(), 0);
  return rows.map((r, i) => ({ ...r, samplerLogprobs: gens[i].logprobs, refLogprobs: want[i], advantage: 0, klCoef: 0, tokenAdvantages: r.tokens.map((_, k) => [0.4, -0.4, 0.25, -0.25][i] * (1 + 0.1 * k)) }));
}

/** The policy's log-probs of `rows` through the server (saved sampler weights) vs the local backend. */
async function samePolicy(what: string, url: string, b: LocalBackend, modelId: string, rows: TrainRow[], tol = 1e-6): Promise<void> {
  const { path: p } = await ok(url, 'save_weights_for_sampler', { model_id: modelId });
  const got = await ok(url, 'compute_logprobs', { model_path: p, rows: rows.map((r) => ({ prompt: r.promptIds, tokens: r.tokens })), micro_batch: 4 });
  expectMaxDiff(what, got.logprobs.flat(), (await b.policy.logprobs(rows, 4)).flat(), tol);
}

async function isStep(url: string, b: LocalBackend, modelId: string, rows: TrainRow[]): Promise<void> {
  const fb = await ok(url, 'forward_backward', { model_id: modelId, forward_backward_input: { data: rows.map(importanceSamplingDatum), loss_fn: 'importance_sampling', loss_fn_config: { micro_batch: 4 } } });
  const want = await b.forwardBackward(rows, 'importance_sampling', 4);
  expectMaxDiff('importance_sampling loss', [fb.metrics['loss:sum']], [want.loss], 1e-9);
  assert.equal(fb.metrics['tokens:sum'], want.tokens);
  assert.equal(fb.loss_fn_outputs.length, rows.length);
  const step = await ok(url, 'optim_step', { model_id: modelId, adam_params: WIRE_ADAM });
  const w = await b.optimStep({ learningRate: ADAM.lr });
  expectMaxDiff('grad norm', [step.metrics.grad_norm], [w.gradNorm], 1e-9);
  assert.equal(step.metrics.applied, 1);
}

let savedPath = '';
let samplerPath = '';
let modelRows: TrainRow[] = [];
const trained = local();

test('a training step through the server equals the same step through LocalBackend (full fine-tuning)', async () => {
  const url = await serve();
  const { model_id: id } = await ok(url, 'create_model', { base_model: base });
  const info = await post200(url, 'get_info', { model_id: id });
  assert.equal(info.is_lora, false);
  const rows = await sampledRows(url, trained, id);
  modelRows = rows;
  await isStep(url, trained, id, rows);
  await samePolicy('policy after an importance_sampling step', url, trained, id, rows);
  // a cross_entropy step on the same sequences, prompt positions weighted 0
  const data = rows.map((r) => {
    const full = [...r.promptIds, ...r.tokens];
    const weights = [...new Array(r.promptIds.length - 1).fill(0), ...r.tokens.map((_, k) => 1 / (k + 1))];
    return { model_input: textInput(full.slice(0, -1)), loss_fn_inputs: { target_tokens: { data: full.slice(1), dtype: 'int64' }, weights: { data: weights, dtype: 'float32' } } };
  });
  const fwd = await ok(url, 'forward', { model_id: id, forward_input: { data, loss_fn: 'cross_entropy' } });
  const lps = await trained.policy.logprobs(rows, 4);
  expectMaxDiff('forward log-probs (completion positions)', fwd.loss_fn_outputs.flatMap((o: { logprobs: { data: number[] } }, i: number) => o.logprobs.data.slice(rows[i].promptIds.length - 1)), lps.flat(), 1e-6);
  const fb = await ok(url, 'forward_backward', { model_id: id, forward_backward_input: { data, loss_fn: 'cross_entropy', loss_fn_config: { micro_batch: 4, return_logprobs: 0 } } });
  const ce = await trained.forwardBackwardCrossEntropy(rows.map((r) => ({ promptIds: r.promptIds, tokens: r.tokens, weights: r.tokens.map((_, k) => 1 / (k + 1)) })), 4);
  expectMaxDiff('cross_entropy loss', [fb.metrics['loss:sum']], [ce.loss], 1e-9);
  expectMaxDiff('forward loss = forward_backward loss', [fwd.metrics['loss:sum']], [ce.loss], 1e-5);
  await ok(url, 'optim_step', { model_id: id, adam_params: WIRE_ADAM });
  await trained.optimStep({ learningRate: ADAM.lr });
  await samePolicy('policy after a cross_entropy step', url, trained, id, rows);
  // checkpoint and named sampler weights for the restart test
  const saved = await ok(url, 'save_weights', { model_id: id, path: 'ckpt_2' });
  assert.equal(saved.path, `tinker://${id}/weights/ckpt_2`);
  assert.ok(fs.existsSync(path.join(stateDir, id, 'weights', 'ckpt_2', 'tinker-meta.json')));
  const again = await call(url, 'save_weights', { model_id: id, path: 'ckpt_2' });
  assert.equal(again.category, 'user', 'a second save under the same name without overwrite is refused');
  assert.match(again.error, /overwrite/);
  samplerPath = (await ok(url, 'save_weights_for_sampler', { model_id: id, path: 'sampler_2' })).path;
  savedPath = saved.path;
});

test('restart on the same --state-dir: create_model + load_weights continues exactly; named sampler weights still sample', async () => {
  assert.ok(savedPath, 'the first test saved a checkpoint');
  for (const s of servers.splice(0)) await s.close(500);
  const url = await serve();
  // no model of this base is loaded yet: the base samples through a frozen LocalBackend of its own
  const fromBase = await ok(url, 'asample', { prompt: textInput([]), prompts: prompts.map(textInput), num_samples: 2, base_model: base, sampling_params: SAMPLING });
  const want = await trained.reference.sample(prompts, 2, LOCAL_SAMPLING);
  assert.deepEqual(fromBase.sequences.map((q: { tokens: number[] }) => q.tokens), want.map((g) => g.tokens), 'base-model sampling = the local reference sampler');
  const { model_id: id } = await ok(url, 'create_model', { base_model: base });
  const loaded = await ok(url, 'load_weights', { model_id: id, path: savedPath, optimizer: true });
  assert.equal(loaded.path, savedPath);
  await samePolicy('policy after load_weights', url, trained, id, modelRows);
  // the Adam moments came back too: one more step lands where the local backend's does
  await isStep(url, trained, id, modelRows);
  await samePolicy('policy after a step past the restart', url, trained, id, modelRows);
  const s = await ok(url, 'asample', { prompt: textInput(prompts[0]), num_samples: 1, model_path: samplerPath, sampling_params: SAMPLING, prompt_logprobs: true });
  assert.equal(s.sequences.length, 1);
  assert.equal(s.prompt_logprobs.length, prompts[0].length);
  assert.equal(s.prompt_logprobs[0], null);
});

test('LoRA (rank 2, alpha 8) through the server equals LoRA locally', async () => {
  const url = servers[0].url;
  const lora: LoraConfig = { rank: 2, alpha: 8, targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] };
  const b = local(lora);
  const { model_id: id } = await ok(url, 'create_model', { base_model: base, lora_config: { rank: 2, alpha: 8, seed: 0 } });
  assert.equal((await post200(url, 'get_info', { model_id: id })).lora_rank, 2);
  const rows = await sampledRows(url, b, id);
  await isStep(url, b, id, rows);
  await samePolicy('LoRA policy after a step', url, b, id, rows);
  await ok(url, 'unload_model', { model_id: id });
});

async function post200(url: string, name: string, body: unknown) {
  const { post } = await import('./helpers/tinker-http.ts');
  const r = await post(url, name, body);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
}
