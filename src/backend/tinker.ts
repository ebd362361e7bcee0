/**
 * TinkerBackend: the PolicyBackend over the Tinker training API (hosted Tinker, SkyRL tx, `selfplay serve --tinker`).
 * One session and one training model on the service; the policy samples the weights last saved for the sampler,
 * the reference is the frozen base model; forward_backward takes the `importance_sampling` loss with per-token
 * advantages (the KL pull folded in: src/rl/kl-fold.ts), optim_step takes AdamParams.
 *
 * Run-folder state: a checkpoint holds remote.json (the service's path of the weights and optimizer saved with
 * save_weights, and the step count); resume makes a new model on the service and load_weights it.
 *
 * The extensions `selfplay serve --tinker` lists (tinker-api.ts SELFPLAY_EXTENSIONS) are used when offered:
 * batch_sample and compute_logprobs (one request for a batch, as a local run draws and scores it), optim_skip,
 * micro_batch, load_optimizer, full_finetune. Without them: one asample per prompt (seed + i: the same tokens, see
 * sampleRowSeed), prompt_logprobs per row, and a skipped update is an optim_step with learning rate 0 (the weights
 * stay; Adam's moments see that gradient, unlike a local skip).
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { InputError, invariant, ModelFormatError, RemoteError } from '../errors.ts';
import type { Generation } from '../generate/generator.ts';
import type { LoraConfig } from '../model/lora.ts';
import { mapConcurrent } from '../util/concurrent.ts';
import { writeJsonAtomic } from '../util/fs.ts';
import type { AdamParams, CrossEntropyRow, ForwardBackwardResult, LossName, OptimStepResult, PolicyBackend, SampleParams, SamplerEnd, SavedState, TrainRow } from './backend.ts';
import { TINKER_ENDPOINTS, type TinkerEndpointName } from './tinker-api.ts';
import { TinkerHttp, type TinkerHttpOptions } from './tinker-http.ts';
import * as w from './tinker-schemas.ts';
import { generationOf, importanceSamplingDatum, type ModelInput, parseWire } from './tinker-schemas.ts';

export interface TinkerBackendOptions {
  http: TinkerHttpOptions;
  /** The base model's name on the service; null: the one model it offers. */
  baseModel: string | null;
  /** LoRA adapters (rank, targets); null: full fine-tuning (the service must offer `full_finetune`). */
  lora: LoraConfig | null;
  /** Seeds the adapters' initialisation on the service. */
  seed: number;
  /** AdamW's fixed settings (the learning rate comes with each step). */
  adam: { weightDecay: number; gradClip: number };
  /** Sample requests in flight at once when the service takes one prompt per request. */
  concurrency?: number;
  /** Names this run's checkpoints on the service. */
  runName: string;
}

/** What a checkpoint folder records of the remote state. */
const remoteStateSchema = z.strictObject({
  service: z.string(),
  baseModel: z.string(),
  modelId: z.string(),
  /** save_weights: weights and optimizer state, what resume loads. */
  statePath: z.string(),
  optimizerStep: z.number().int().nonnegative(),
});
export type RemoteState = z.infer<typeof remoteStateSchema>;
export const REMOTE_STATE_FILE = 'remote.json';

const ids = (tokens: number[]): ModelInput => ({ chunks: [{ type: 'encoded_text', tokens }] });

export class TinkerBackend implements PolicyBackend {
  readonly http: TinkerHttp;
  readonly policy: SamplerEnd;
  readonly reference: SamplerEnd;
  private extensions = new Set<string>();
  private base = '';
  private modelId = '';
  private samplerPath = '';
  private statePath: string | null = null;
  private pendingLoad: string | null = null;
  private steps = 0;
  private samplerSaves = 0;
  private beat?: NodeJS.Timeout;
  /** A training call failed after the service may have applied it: its state is unknown, so no checkpoint is made. */
  private uncertain: string | null = null;

  constructor(readonly o: TinkerBackendOptions) {
    this.http = new TinkerHttp(o.http);
    this.policy = { sample: (p, n, s) => this.sample(p, n, s, { model_path: this.samplerPath }), logprobs: () => this.notHere('policy log-probs') };
    this.reference = { sample: (p, n, s) => this.sample(p, n, s, { base_model: this.base }), logprobs: (rows, mb) => this.referenceLogprobs(rows, mb) };
  }

  private notHere(what: string): never {
    throw new InputError(`TinkerBackend: ${what} are not part of the loop over the Tinker API`);
  }

  /**
   * A request to `name`, validated both ways with the endpoint table's schemas (`result` is that table's response
   * schema, named again for its type); a future is polled to its result.
   */
  private async req<S extends z.ZodType>(name: TinkerEndpointName, body: unknown, result: S, retry: 'idempotent' | 'once' = 'idempotent'): Promise<z.infer<S>> {
    const e = TINKER_ENDPOINTS[name];
    invariant((e.response as z.ZodType) === result, `TinkerBackend: ${name} answers another schema`);
    const sent = e.request ? parseWire(e.request, body, `tinker ${e.method} ${e.path} request`) : null;
    if (e.mode === 'future') return this.http.future(e.path, sent, result, { retry });
    return this.http.call(e.method, e.path, sent, result, retry);
  }

  private has(ext: string): boolean {
    return this.extensions.has(ext);
  }

  /** The service answers healthz (retried as any idempotent call). */
  async probe(): Promise<void> {
    await this.req('healthz', null, w.healthResponseSchema);
  }

  /** The service answers, offers the base model, and the run's model is made (and loaded, when resuming). */
  async connect(): Promise<void> {
    await this.req('healthz', null, w.healthResponseSchema);
    const caps = await this.req('get_server_capabilities', null, w.serverCapabilitiesSchema);
    this.extensions = new Set(caps.selfplay_extensions ?? []);
    this.base = this.chooseBase(caps.supported_models.map((m) => m.model_name ?? '').filter(Boolean));
    const session = await this.req('create_session', { tags: ['selfplay'], user_metadata: { run: this.o.runName }, sdk_version: 'selfplay' }, w.createSessionResponseSchema);
    const model = await this.req('create_model', { session_id: session.session_id, model_seq_id: 0, base_model: this.base, lora_config: this.loraConfig() }, w.createModelResponseSchema);
    this.modelId = model.model_id;
    await this.checkInfo();
    this.heartbeat(session.session_id);
    if (this.pendingLoad) {
      await this.req('load_weights', { model_id: this.modelId, path: this.pendingLoad, ...(this.has('load_optimizer') ? { optimizer: true } : {}) }, w.loadWeightsResponseSchema, 'once');
      this.statePath = this.pendingLoad;
      this.pendingLoad = null;
    }
    await this.saveWeightsForSampler();
  }

  /** get_info agrees with what was asked for (a service that silently made another kind of model is refused). */
  private async checkInfo(): Promise<void> {
    const info = await this.req('get_info', { model_id: this.modelId }, w.getInfoResponseSchema);
    const rank = this.o.lora?.rank ?? 0;
    if (info.lora_rank != null && info.lora_rank !== rank && !(rank === 0 && info.is_lora === false)) {
      throw new RemoteError(`tinker ${TINKER_ENDPOINTS.get_info.path}: model ${this.modelId} has LoRA rank ${info.lora_rank}, asked for ${rank || 'full fine-tuning'}`);
    }
  }

  /** The session is kept alive as the SDK does (a heartbeat every 10 s); a missed beat is not an error of the run. */
  private heartbeat(sessionId: string): void {
    clearInterval(this.beat);
    const e = TINKER_ENDPOINTS.session_heartbeat;
    this.beat = setInterval(() => void this.http.call(e.method, e.path, { session_id: sessionId }, e.response, 'idempotent').catch(() => {}), 10_000);
    this.beat.unref();
  }

  /** Stops the heartbeat (the process may exit without it; the timer never holds it). */
  close(): void {
    clearInterval(this.beat);
  }

  private chooseBase(offered: string[]): string {
    const want = this.o.baseModel;
    if (want && offered.length && !offered.includes(want)) throw new InputError(`--base-model ${want}: the service at ${this.http.url} offers ${offered.join(', ')}`);
    if (want) return want;
    if (offered.length === 1) return offered[0];
    throw new InputError(`--base-model is needed: the service at ${this.http.url} offers ${offered.length ? offered.join(', ') : 'no model it names'}`);
  }

  private loraConfig() {
    const l = this.o.lora;
    if (!l) {
      if (!this.has('full_finetune')) throw new InputError(`the service at ${this.http.url} trains LoRA adapters only; set lora (rank, alpha, targets) in the config`);
      return null;
    }
    const attn = l.targets.some((t) => /^[qkvo]_proj$/.test(t));
    const mlp = l.targets.some((t) => /^(gate|up|down)_proj$/.test(t));
    return { rank: l.rank, seed: this.o.seed, train_attn: attn, train_mlp: mlp, train_unembed: false, ...(this.has('lora_alpha') ? { alpha: l.alpha } : {}) };
  }

  private samplingParams(p: SampleParams, seed: number) {
    return { max_tokens: p.maxTokens, seed, stop: p.stop, temperature: p.temperature, top_k: p.topK > 0 ? p.topK : -1, top_p: p.topP };
  }

  /** n samples of each prompt, prompt-major; prompt i samples with seed + i (sampleRowSeed), however it is sent. */
  private async sample(prompts: number[][], n: number, p: SampleParams, from: { model_path?: string; base_model?: string }): Promise<Generation[]> {
    const where = `${TINKER_ENDPOINTS.asample.path} response`;
    if (this.has('batch_sample')) {
      const r = await this.req('asample', { prompt: ids([]), prompts: prompts.map(ids), num_samples: n, sampling_params: this.samplingParams(p, p.seed), ...from }, w.sampleResponseSchema);
      if (r.sequences.length !== prompts.length * n) throw new RemoteError(`tinker ${where}: ${r.sequences.length} sequences for ${prompts.length} prompts x ${n}`);
      return r.sequences.map((q) => this.generation(q, where));
    }
    const per = await mapConcurrent(prompts, this.o.concurrency ?? 64, async (prompt, i) => {
      const r = await this.req('asample', { prompt: ids(prompt), num_samples: n, sampling_params: this.samplingParams(p, (p.seed + i) >>> 0), ...from }, w.sampleResponseSchema);
      if (r.sequences.length !== n) throw new RemoteError(`tinker ${where}: ${r.sequences.length} sequences, asked for ${n}`);
      return r.sequences.map((q) => this.generation(q, where));
    });
    return per.flat();
  }

  private generation(q: Parameters<typeof generationOf>[0], where: string): Generation {
    try {
      return generationOf(q, where);
    } catch (e) {
      throw new RemoteError(`tinker ${(e as Error).message}`);
    }
  }

  /** log pi_ref of each row's tokens: the frozen base scores prompt + tokens (compute_logprobs, or prompt_logprobs per row). */
  private async referenceLogprobs(rows: { promptIds: number[]; tokens: number[] }[], microBatch: number): Promise<number[][]> {
    if (this.has('compute_logprobs')) {
      const out: number[][] = [];
      for (const chunk of requestChunks(rows, microBatch)) {
        const r = await this.req('compute_logprobs', { base_model: this.base, rows: chunk.map((x) => ({ prompt: x.promptIds, tokens: x.tokens })), micro_batch: microBatch }, w.computeRowLogprobsResponseSchema);
        chunk.forEach((x, i) => this.checkLength(r.logprobs[i]?.length, x.tokens.length, `compute_logprobs row ${out.length + i}`));
        out.push(...r.logprobs.slice(0, chunk.length));
      }
      return out;
    }
    return mapConcurrent(rows, this.o.concurrency ?? 64, async (x, i) => {
      const r = await this.req('asample', { prompt: ids([...x.promptIds, ...x.tokens]), num_samples: 1, sampling_params: { max_tokens: 1, seed: 0 }, prompt_logprobs: true, base_model: this.base }, w.sampleResponseSchema);
      const lp = (r.prompt_logprobs ?? []).slice(x.promptIds.length);
      this.checkLength(lp.length, x.tokens.length, `asample prompt_logprobs of row ${i}`);
      return lp.map((v, k) => {
        if (v === null || !Number.isFinite(v)) throw new RemoteError(`tinker ${TINKER_ENDPOINTS.asample.path} response: prompt_logprobs of row ${i} has no value at token ${k}`);
        return v;
      });
    });
  }

  private checkLength(got: number | undefined, want: number, what: string): void {
    if (got !== want) throw new RemoteError(`tinker ${what}: ${got ?? 'no'} log-probs for ${want} tokens`);
  }

  /** One forward_backward with every row as an importance_sampling datum; the gradient accumulates on the service. */
  async forwardBackward(rows: TrainRow[], loss: LossName, microBatch: number): Promise<ForwardBackwardResult> {
    if (loss !== 'importance_sampling') throw new InputError(`the Tinker API trains with importance_sampling (per-token advantages), not ${loss}; set policyLoss auto or importance_sampling`);
    const out: ForwardBackwardResult = { loss: 0, logpDiff: 0, tokens: 0 };
    for (const chunk of requestChunks(rows, microBatch)) {
      const r = await this.training('forward_backward', {
        model_id: this.modelId,
        forward_backward_input: { data: chunk.map(importanceSamplingDatum), loss_fn: 'importance_sampling', loss_fn_config: this.has('micro_batch') ? { micro_batch: microBatch } : null },
      }, w.forwardBackwardOutputSchema);
      // a non-finite loss cannot travel in JSON: no loss:sum then, and the loop skips the update
      out.loss += r.metrics['loss:sum'] ?? NaN;
      out.logpDiff = Math.max(out.logpDiff, r.metrics['logp_diff:max'] ?? logpDiffOf(chunk, r));
      out.tokens += chunk.reduce((a, x) => a + x.tokens.length, 0);
    }
    return out;
  }


  /** Weighted next-token NLL (Tinker's cross_entropy): prompt positions weigh 0, token k of a row weighs weights[k]. */
  async forwardBackwardCrossEntropy(rows: CrossEntropyRow[], microBatch: number): Promise<{ loss: number; tokens: number }> {
    const data = rows.map((row, i): w.Datum => {
      if (row.weights.length !== row.tokens.length || !row.promptIds.length) throw new InputError(`cross_entropy row ${i}: needs a prompt and one weight per token (${row.tokens.length})`);
      const full = [...row.promptIds, ...row.tokens];
      const weights = [...new Array<number>(row.promptIds.length - 1).fill(0), ...row.weights];
      return {
        model_input: ids(full.slice(0, -1)),
        loss_fn_inputs: { target_tokens: { data: full.slice(1), dtype: 'int64', shape: [full.length - 1] }, weights: { data: weights, dtype: 'float32', shape: [weights.length] } },
      };
    });
    const r = await this.training('forward_backward', {
      model_id: this.modelId,
      forward_backward_input: { data, loss_fn: 'cross_entropy', loss_fn_config: this.has('micro_batch') ? { micro_batch: microBatch } : null },
    }, w.forwardBackwardOutputSchema);
    return { loss: r.metrics['loss:sum'] ?? NaN, tokens: rows.reduce((a, x) => a + x.tokens.length, 0) };
  }

  /** A call that changes training state: sent once; if it fails, the service's state is unknown until a resume. */
  private async training<S extends z.ZodType>(name: 'forward_backward' | 'optim_step', body: unknown, result: S): Promise<z.infer<S>> {
    try {
      return await this.req(name, body, result, 'once');
    } catch (e) {
      this.uncertain = `${name} failed`;
      throw e;
    }
  }

  async optimStep(params: AdamParams, skip = false): Promise<OptimStepResult> {
    const lr = skip && !this.has('optim_skip') ? 0 : params.learningRate;
    const adam = { learning_rate: lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: this.o.adam.weightDecay, grad_clip_norm: this.o.adam.gradClip };
    const r = await this.training('optim_step', { model_id: this.modelId, adam_params: adam, ...(skip && this.has('optim_skip') ? { skip: true } : {}) }, w.optimStepResponseSchema);
    const m = r.metrics ?? {};
    const gradNorm = m.grad_norm ?? NaN;
    const applied = !skip && (m.applied === undefined ? true : m.applied === 1);
    if (applied) this.steps++;
    return { gradNorm, applied };
  }

  async saveWeightsForSampler(): Promise<void> {
    const r = await this.req('save_weights_for_sampler', { model_id: this.modelId, path: `${this.o.runName}-sampler-${this.samplerSaves++}` }, w.saveWeightsForSamplerResponseSchema);
    this.samplerPath = r.path;
  }

  /** Before a checkpoint: the weights and optimizer state saved on the service under `name`. */
  async flush(name: string): Promise<void> {
    if (this.uncertain) throw new RemoteError(`not checkpointing: ${this.uncertain} after the service may have applied it; the run resumes from its last checkpoint`);
    // overwrite: a retry after a lost answer saves the same state under the same name instead of failing on it
    const r = await this.req('save_weights', { model_id: this.modelId, path: `${this.o.runName}-${name}`, overwrite: true }, w.saveWeightsResponseSchema);
    this.statePath = r.path;
  }

  /** Writes remote.json (what flush saved on the service) into the checkpoint being written. */
  saveState(tmpDir: string): SavedState {
    if (!this.statePath) throw new RemoteError('TinkerBackend: a checkpoint needs flush() first (the weights saved on the service)');
    const state: RemoteState = { service: this.http.url, baseModel: this.base, modelId: this.modelId, statePath: this.statePath, optimizerStep: this.steps };
    fs.writeFileSync(path.join(tmpDir, REMOTE_STATE_FILE), `${JSON.stringify(state, null, 2)}\n`);
    return { optimizerStep: this.steps };
  }

  /** Resumes from a checkpoint's remote.json: connect() then loads those weights on the service. */
  loadState(dir: string, saved: SavedState): void {
    const file = path.join(dir, REMOTE_STATE_FILE);
    let raw: unknown;
    try {
      raw = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch (e) {
      throw new ModelFormatError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); a remote run's checkpoint holds it`);
    }
    const r = remoteStateSchema.safeParse(raw);
    if (!r.success) throw new ModelFormatError(`${file}: ${r.error.issues[0].path.join('.') || '(root)'}: ${r.error.issues[0].message}`);
    this.pendingLoad = r.data.statePath;
    this.steps = saved.optimizerStep;
  }

  /**
   * The end of a run: the trained weights saved on the service (for training and for sampling), and
   * remote-model.json in `out` saying where. The service keeps the model; no HF folder is written here.
   */
  async finish(out: string): Promise<string> {
    await this.flush('final');
    await this.saveWeightsForSampler();
    const file = path.join(out, 'remote-model.json');
    writeJsonAtomic(file, { service: this.http.url, baseModel: this.base, modelId: this.modelId, weights: this.statePath, sampler: this.samplerPath, optimizerStep: this.steps });
    return file;
  }

  exportHf(): void {
    throw new InputError(`a remote run's model stays on the service (${this.samplerPath}); see remote-model.json in the run folder`);
  }
}

/** A request body stays under this (servers refuse large bodies: serve --tinker 64 MiB by default). */
const MAX_REQUEST_BYTES = 16 << 20;
/** JSON bytes per token position of a datum, generously (ids, targets, two float arrays). */
const BYTES_PER_POSITION = 100;

/**
 * Rows split into requests under MAX_REQUEST_BYTES, cut at whole micro-batches; gradients accumulate on the service,
 * so several requests train exactly as one. A small batch (every LSP batch of the default settings) is one request.
 */
export function requestChunks<T extends { promptIds: number[]; tokens: number[] }>(rows: T[], microBatch: number): T[][] {
  const chunks: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (let i = 0; i < rows.length; i += microBatch) {
    const mb = rows.slice(i, i + microBatch);
    const cost = mb.reduce((a, r) => a + (r.promptIds.length + r.tokens.length) * BYTES_PER_POSITION, 0);
    if (current.length && bytes + cost > MAX_REQUEST_BYTES) {
      chunks.push(current);
      [current, bytes] = [[], 0];
    }
    current.push(...mb);
    bytes += cost;
  }
  if (current.length) chunks.push(current);
  return chunks;
}

/** Max |train-path log-prob - sampler log-prob| from loss_fn_outputs, when the service reports no logp_diff:max. */
function logpDiffOf(rows: TrainRow[], r: w.ForwardBackwardOutput): number {
  let diff = 0;
  rows.forEach((row, i) => {
    const lp = r.loss_fn_outputs[i]?.logprobs?.data;
    const T = row.promptIds.length - 1 + row.tokens.length;
    if (!lp || lp.length !== T) throw new RemoteError(`tinker ${TINKER_ENDPOINTS.forward_backward.path} response: loss_fn_outputs.${i}.logprobs: expected ${T} log-probs (one per target token)`);
    row.tokens.forEach((_, k) => (diff = Math.max(diff, Math.abs(lp[row.promptIds.length - 1 + k] - row.samplerLogprobs[k]))));
  });
  return diff;
}
