/**
 * The calls of `selfplay serve --tinker` besides training (train-ops.ts): create_model, asample, compute_logprobs and
 * the checkpoints (save_weights_for_sampler, save_weights, load_weights). Each `check*` runs when the request arrives
 * (its faults are HTTP 400/404 naming the field); each `run*` runs later in the future queue, in arrival order, so it
 * sees the model as the calls before it left it.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { z } from 'zod';
import type { SampleParams, SamplerEnd } from '../../backend/backend.ts';
import { parseTinkerPath, tinkerPath } from '../../backend/tinker-api.ts';
import type * as s from '../../backend/tinker-schemas.ts';
import { LORA_TARGETS, type LoraConfig } from '../../model/lora.ts';
import { saveFolderAtomic, writeJsonAtomic } from '../../util/fs.ts';
import { RequestError } from '../protocol.ts';
import { UserFault } from './futures.ts';
import type { Registry, SamplerSnapshot, ServedModel } from './registry.ts';
import { checkpointDir, checkWritable, existingInside, META_FILE, readMeta, type CheckpointMeta } from './state-dir.ts';
import { tokensOf } from './train-ops.ts';

type Req<S extends z.ZodType> = z.infer<S>;

/** Tinker's default LoRA alpha (SkyRL tx: "alpha = 32 seems to be the tinker default"). */
export const DEFAULT_LORA_ALPHA = 32;
/** Most samples one asample call may ask for (prompts x num_samples). */
export const MAX_SAMPLE_ROWS = 1024;

/** create_model's LoRA config as this project's (null: full fine-tuning, for rank 0 or no lora_config). */
export function loraOf(c: Req<typeof s.createModelRequestSchema>['lora_config']): LoraConfig | null {
  if (!c || c.rank === 0) return null;
  const targets = [...(c.train_attn ? LORA_TARGETS.slice(0, 4) : []), ...(c.train_mlp ? LORA_TARGETS.slice(4) : [])];
  if (targets.length === 0) throw new RequestError('lora_config: train_attn and train_mlp are both false; nothing would train (this server has no LM-head adapter)', 'lora_config');
  return { rank: c.rank, alpha: c.alpha ?? DEFAULT_LORA_ALPHA, targets };
}

// ---- sampling ----

/** Where an asample / compute_logprobs call samples from, checked on arrival; the sampler itself is resolved when it runs. */
export type SampleSource = { base: string } | { modelPath: string };

export function checkSource(reg: Registry, root: string, r: { base_model?: string | null; model_path?: string | null; sampling_session_id?: string | null }): SampleSource {
  let { base_model: base, model_path: modelPath } = r;
  if (r.sampling_session_id) {
    const ss = reg.samplingSessions.get(r.sampling_session_id);
    if (!ss) throw new RequestError(`sampling_session_id ${JSON.stringify(r.sampling_session_id.slice(0, 80))}: no such sampling session`, 'sampling_session_id', 404, 'not_found');
    ({ base, modelPath } = { base: ss.base, modelPath: ss.modelPath });
  }
  if (modelPath) {
    const p = parseTinkerPath(modelPath);
    if (!p || p.kind !== 'sampler_weights') throw new RequestError('model_path: must be tinker://<model_id>/sampler_weights/<name> (from save_weights_for_sampler)', 'model_path');
    checkpointDir(root, p.modelId, 'sampler_weights', p.name, 'model_path');
    return { modelPath };
  }
  if (base) {
    reg.folderOf(base);
    return { base };
  }
  throw new RequestError('base_model: give base_model, model_path or sampling_session_id', 'base_model');
}

/** The sampler of `src` now: the frozen base, or sampler weights (live while unchanged, else their saved folder). */
export function samplerOf(reg: Registry, root: string, src: SampleSource): SamplerEnd {
  if ('base' in src) return reg.baseSampler(src.base);
  let snap: SamplerSnapshot | undefined = reg.snapshots.get(src.modelPath);
  if (!snap) {
    const p = parseTinkerPath(src.modelPath)!;
    const dir = existingInside(root, checkpointDir(root, p.modelId, 'sampler_weights', p.name, 'model_path'), `model_path ${src.modelPath}`);
    snap = { modelId: p.modelId, version: -1, dir };
  }
  return reg.snapshotSampler(snap, `model_path ${src.modelPath}`);
}

/** asample's sampling params as the backend's, refused (400 naming the field) where this server differs. */
export function checkSample(r: Req<typeof s.sampleRequestSchema>): { prompts: number[][]; params: Omit<SampleParams, 'seed'> & { seed: number | null } } {
  const sp = r.sampling_params;
  if (sp.max_tokens == null) throw new RequestError('sampling_params.max_tokens: required by this server', 'sampling_params.max_tokens');
  if (typeof sp.stop === 'string' || (Array.isArray(sp.stop) && sp.stop.some((x) => typeof x === 'string'))) {
    throw new RequestError('sampling_params.stop: only token ids are supported (no stop strings)', 'sampling_params.stop');
  }
  if (r.topk_prompt_logprobs > 0) throw new RequestError('topk_prompt_logprobs: not supported by this server', 'topk_prompt_logprobs');
  const prompts = r.prompts ? r.prompts.map((p, i) => tokensOf(p, `prompts.${i}`)) : [tokensOf(r.prompt, 'prompt')];
  const empty = prompts.findIndex((p) => p.length === 0);
  if (empty >= 0) throw new RequestError(`${r.prompts ? `prompts.${empty}` : 'prompt'}: empty`, r.prompts ? `prompts.${empty}` : 'prompt');
  if (prompts.length * r.num_samples > MAX_SAMPLE_ROWS) throw new RequestError(`num_samples: ${prompts.length} prompts x ${r.num_samples} samples is more than ${MAX_SAMPLE_ROWS} rows`, 'num_samples');
  const stop = (sp.stop ?? []) as number[];
  const params = { temperature: sp.temperature, topP: sp.top_p, topK: Math.max(0, sp.top_k), maxTokens: sp.max_tokens, seed: sp.seed ?? null, stop };
  return { prompts, params };
}

export async function runSample(sampler: SamplerEnd, r: Req<typeof s.sampleRequestSchema>): Promise<z.input<typeof s.sampleResponseSchema>> {
  const { prompts, params } = checkSample(r);
  const seed = params.seed ?? Math.floor(Math.random() * 2 ** 31);
  const gens = await sampler.sample(prompts, r.num_samples, { ...params, seed });
  const sequences = gens.map((g) => ({ stop_reason: g.finishReason === 'length' ? ('length' as const) : ('stop' as const), tokens: g.tokens, logprobs: g.logprobs }));
  if (!r.prompt_logprobs) return { type: 'sample', sequences };
  const p = prompts[0];
  const rest = p.length > 1 ? (await sampler.logprobs([{ promptIds: [p[0]], tokens: p.slice(1) }], 1))[0] : [];
  return { type: 'sample', sequences, prompt_logprobs: [null, ...rest] };
}

// ---- checkpoints ----

/** save_weights_for_sampler: named saves are written to the state dir (an HF folder, LoRA merged); unnamed ones stay in memory. */
export function runSaveForSampler(reg: Registry, root: string, m: ServedModel, name: string | null, ephemeral: number): { path: string; type: 'save_weights_for_sampler' } {
  let dir: string | null = null;
  if (name !== null) {
    dir = checkpointDir(root, m.id, 'sampler_weights', name);
    checkWritable(root, dir, `path ${name}`);
    m.backend.exportHf(dir, {});
    reg.forgetSnapshotFolder(dir);
  }
  const p = tinkerPath(m.id, 'sampler_weights', name ?? `ephemeral-${ephemeral}`);
  reg.snapshots.set(p, { modelId: m.id, version: m.version, dir });
  return { path: p, type: 'save_weights_for_sampler' };
}

/** save_weights: the trainable weights (the policy, or its adapters), the Adam moments and a meta file, atomically. */
export function runSaveWeights(root: string, m: ServedModel, name: string, overwrite: boolean): { path: string; type: 'save_weights' } {
  const dir = checkpointDir(root, m.id, 'weights', name);
  checkWritable(root, dir, `path ${name}`);
  if (fs.existsSync(dir) && !overwrite) throw new UserFault(`path ${name}: a checkpoint of this name exists; pass overwrite: true to replace it`);
  saveFolderAtomic(dir, (tmp) => {
    const { optimizerStep } = m.backend.saveState(tmp, dir);
    const lora = m.lora && { rank: m.lora.rank, alpha: m.lora.alpha, targets: [...m.lora.targets] };
    const meta: CheckpointMeta = { format: 'selfplay-tinker-checkpoint-1', base_model: m.base, lora, optimizer_step: optimizerStep, source_model_id: m.id, saved_at: new Date().toISOString() };
    writeJsonAtomic(path.join(tmp, META_FILE), meta);
  });
  return { path: tinkerPath(m.id, 'weights', name), type: 'save_weights' };
}

/** The checkpoint folder of a load_weights path, checked on arrival (400 for a path that is not one of ours). */
export function checkLoadPath(root: string, p: string): string {
  const parsed = parseTinkerPath(p);
  if (!parsed || parsed.kind !== 'weights') throw new RequestError('path: must be tinker://<model_id>/weights/<name> (from save_weights)', 'path');
  return checkpointDir(root, parsed.modelId, 'weights', parsed.name);
}

/** load_weights: the weights (and with `optimizer`, the Adam moments; else they start fresh) of a checkpoint of the same base and LoRA shape. */
export function runLoadWeights(reg: Registry, root: string, m: ServedModel, p: string, optimizer: boolean): { path: string; type: 'load_weights' } {
  const dir = existingInside(root, checkLoadPath(root, p), `path ${p}`);
  const meta = readMeta(dir, `path ${p}`);
  const sameBase = reg.bases.get(meta.base_model) === reg.bases.get(m.base);
  if (!sameBase) throw new UserFault(`path ${p}: saved from base model ${meta.base_model}, but model ${m.id} is of ${m.base}`);
  const want = m.lora && { rank: m.lora.rank, alpha: m.lora.alpha, targets: [...m.lora.targets] };
  if (JSON.stringify(meta.lora) !== JSON.stringify(want)) {
    throw new UserFault(`path ${p}: saved with lora ${JSON.stringify(meta.lora)}, but model ${m.id} has ${JSON.stringify(want)}; create_model with the same lora_config`);
  }
  m.backend.loadState(dir, { optimizerStep: meta.optimizer_step });
  if (!optimizer) m.backend.optimizer.restore({ step: 0, m: new Map(), v: new Map() });
  m.version++;
  return { path: p, type: 'load_weights' };
}
