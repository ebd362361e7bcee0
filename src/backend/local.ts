/**
 * LocalBackend: the PolicyBackend of this process. The policy and its frozen reference are ONNX engines on host
 * weights (src/model/engine.ts), sampling is the batched generator with a KV cache, the loss is the exact local
 * policy loss with its KL estimator (src/rl/losses.ts), and the update is AdamW on host arrays. With LoRA the
 * policy holds the base weights plus adapters, and only the adapters train, checkpoint and (merged) export.
 * Pretraining uses the same class with no reference (`model: null`): start() then takes seeded random weights of a
 * config, or an HF folder, and the loss is weighted cross-entropy (forwardBackwardCrossEntropy).
 */
import fs from 'node:fs';
import path from 'node:path';
import { InputError, invariant } from '../errors.ts';
import { ChatModel } from '../generate/chat.ts';
import type { Generation } from '../generate/generator.ts';
import { ModelEngine } from '../model/engine.ts';
import type { LossSpec } from '../model/graphs.ts';
import { initLora, type LoraConfig, loadLoraAdapter, loraShapes, mergeLora, saveLoraAdapter } from '../model/lora.ts';
import { parseModelConfig } from '../model/config.ts';
import { loadModelFolder } from '../model/modelfolder.ts';
import { saveModelFolder, type SaveDtype, writeModelFiles } from '../model/save.ts';
import { loadTokenizer } from '../model/tokenizer.ts';
import { AdamW, globalNorm } from '../optim/adamw.ts';
import { importanceSamplingLoss, KL_ESTIMATORS, type KlEstimator, policyLoss } from '../rl/losses.ts';
import type { Runtime } from '../runtime/runtime.ts';
import { type AdamParams, type CrossEntropyRow, type ForwardBackwardResult, type LossName, type OptimStepResult, type PolicyBackend, type SampleParams, type SamplerEnd, sampleRowSeed, type SavedState, type TrainRow } from './backend.ts';
import { crossEntropyGradient, policyGradient, referenceLogprobs } from './local-policy.ts';
import { OPTIMIZER_FILE, readAdamWState, writeAdamWState } from './optimizer-file.ts';
import { initWeights } from './random-init.ts';

/** AdamW's fixed settings (decay on every weight but the norms); the learning rate comes with each optimStep. */
export interface AdamSettings {
  lr: number;
  weightDecay: number;
  gradClip: number;
  /** (beta1, beta2); default (0.9, 0.999). */
  betas?: readonly [number, number];
}

/** Where start() takes the policy from besides `model`: another HF folder, or seeded random weights of a config. */
export type PolicyStart = { folder: string } | { randomConfig: Record<string, unknown> };

export interface LocalBackendOptions {
  /**
   * The HF model folder: the frozen reference, and the policy's starting point. null: no reference (pretraining);
   * start() is then told where the policy starts.
   */
  model: string | null;
  /** The folder whose tokenizer files saved folders carry (default: `model`). */
  tokenizerFrom?: string;
  /** A Jinja chat template file used instead of the folder's own (null: the folder's). */
  chatTemplate: string | null;
  lora: LoraConfig | null;
  /** Seeds the LoRA adapters' initialisation, and random initial weights. */
  seed: number;
  runtime: Runtime;
  adam: AdamSettings;
}

/** A SamplerEnd on a chat model's engine (n copies of each prompt, in one generator batch). */
function samplerOf(model: () => ChatModel): SamplerEnd {
  return {
    sample: (prompts: number[][], n: number, p: SampleParams): Promise<Generation[]> => {
      const m = model();
      const rows = prompts.flatMap((ids) => Array.from({ length: n }, () => ids));
      const rowSeeds = prompts.flatMap((_, i) => Array.from({ length: n }, (_, j) => sampleRowSeed(p.seed, i, j)));
      const o = { temperature: p.temperature, topP: p.topP, topK: p.topK, maxNewTokens: p.maxTokens, seed: p.seed, rowSeeds, eosIds: p.stop };
      return m.generator.generate(rows, { ...o, sampleableVocab: m.tokenizer.vocabSize }); // padded embedding rows have no token
    },
    logprobs: (rows, microBatch) => referenceLogprobs(model().engine, rows, microBatch),
  };
}

/** The graph loss of a backend loss name. */
function lossSpec(loss: LossName): LossSpec {
  if (loss === 'importance_sampling') return importanceSamplingLoss();
  const estimator = loss.slice('policy_'.length) as KlEstimator;
  invariant(KL_ESTIMATORS.includes(estimator), `LocalBackend: unknown loss ${loss}`);
  return policyLoss(estimator);
}

export class LocalBackend implements PolicyBackend {
  readonly optimizer: AdamW;
  readonly policy: SamplerEnd = samplerOf(() => this.policyModel);
  readonly reference: SamplerEnd = samplerOf(() => this.referenceModel);
  private readonly ref: ChatModel | null;
  private current?: ChatModel;
  /** Gradients accumulated by forwardBackward and forwardBackwardCrossEntropy since the last optimStep. */
  private grads = new Map<string, Float32Array>();

  constructor(readonly o: LocalBackendOptions) {
    this.ref = o.model === null ? null : ChatModel.load(o.model, o.runtime, 'model', { chatTemplateFile: o.chatTemplate ?? undefined });
    const { lr, weightDecay, gradClip, betas = [0.9, 0.999] } = o.adam;
    this.optimizer = new AdamW({ lr, beta1: betas[0], beta2: betas[1], eps: 1e-8, weightDecay, maxGradNorm: gradClip, decays: (n) => !n.endsWith('norm.weight') });
  }

  /** The frozen model; it also renders prompts and decodes samples for the loop (same tokenizer and template). */
  get referenceModel(): ChatModel {
    invariant(this.ref, 'LocalBackend: made without a reference model (model: null)');
    return this.ref;
  }

  /** The policy as a chat model (sampling, periodic evaluation). */
  get policyModel(): ChatModel {
    invariant(this.current, 'LocalBackend: no policy yet; call start() or loadState() first');
    return this.current;
  }

  /** A new run: the policy starts as the base weights (copied), plus fresh LoRA adapters; or as `from` says. */
  start(from?: PolicyStart): void {
    if (from && 'randomConfig' in from) this.current = this.randomPolicy(from.randomConfig);
    else {
      const dir = from?.folder ?? this.o.model;
      invariant(dir !== null, 'LocalBackend.start: no model folder to start from');
      this.current = this.loadPolicy(dir);
    }
  }

  /** Seeded random weights of an HF config (validated), with the tokenizer of `tokenizerFrom`. */
  private randomPolicy(rawConfig: Record<string, unknown>): ChatModel {
    const tokDir = this.tokenizerFrom;
    invariant(!this.o.lora, 'LocalBackend: LoRA needs a base model, not random weights');
    const cfg = parseModelConfig(rawConfig, 'config.json');
    const weights = initWeights(cfg, this.o.seed);
    const folder = { dir: tokDir, cfg, rawConfig, weights, ignored: [], tokenizer: loadTokenizer(tokDir) };
    return new ChatModel(folder, new ModelEngine(cfg, weights, this.o.runtime, 'model'), folder.tokenizer);
  }

  /** Where saved folders copy the tokenizer from. */
  private get tokenizerFrom(): string {
    const dir = this.o.tokenizerFrom ?? this.o.model;
    invariant(dir !== null, 'LocalBackend: no model folder and no tokenizerFrom');
    return dir;
  }

  /** config.json of saved folders: the reference's as written, or (no reference) the policy's. */
  private get rawConfig(): Record<string, unknown> {
    return (this.ref ?? this.policyModel).folder.rawConfig;
  }

  /** The policy from `from`: a whole HF folder, or (LoRA) the base plus the adapters saved there. */
  private loadPolicy(from: string): ChatModel {
    const { o } = this;
    if (!o.lora) {
      const folder = loadModelFolder(from, { chatTemplateFile: o.chatTemplate ?? undefined });
      return new ChatModel(folder, new ModelEngine(folder.cfg, folder.weights, o.runtime, 'model'), folder.tokenizer!);
    }
    const ref = this.referenceModel;
    const cfg = ref.folder.cfg;
    const adapters = from === o.model ? initLora(cfg, o.lora, o.seed) : loadLoraAdapter(from, cfg).weights;
    const weights = new Map([...ref.folder.weights, ...adapters]);
    return new ChatModel({ ...ref.folder, weights }, new ModelEngine(cfg, weights, o.runtime, 'policy', o.lora), ref.tokenizer);
  }

  async forwardBackward(rows: TrainRow[], loss: LossName, microBatch: number): Promise<ForwardBackwardResult> {
    if (loss === 'importance_sampling') {
      const bad = rows.findIndex((r) => r.tokenAdvantages?.length !== r.tokens.length);
      if (bad >= 0) throw new InputError(`forwardBackward importance_sampling: row ${bad} needs tokenAdvantages, one per sampled token (${rows[bad].tokens.length})`);
    }
    // with LoRA the train graph returns gradients for the adapters only, so only they move
    const g = await policyGradient(this.policyModel.engine, rows, lossSpec(loss), microBatch, this.grads);
    return { loss: g.loss, logpDiff: g.logpDiff, tokens: g.tokens };
  }

  async forwardBackwardCrossEntropy(rows: CrossEntropyRow[], microBatch: number): Promise<{ loss: number; tokens: number }> {
    if (!(Number.isInteger(microBatch) && microBatch > 0)) throw new InputError(`forwardBackwardCrossEntropy: microBatch must be a positive integer, got ${microBatch}`);
    const g = await crossEntropyGradient(this.policyModel.engine, rows, microBatch, this.grads);
    return { loss: g.loss, tokens: g.tokens };
  }

  async optimStep(params: AdamParams, skip = false): Promise<OptimStepResult> {
    const grads = this.grads;
    this.grads = new Map();
    const gradNorm = globalNorm(grads);
    const applied = !skip && Number.isFinite(gradNorm);
    if (applied) this.optimizer.step(this.policyModel.engine.weights, grads, params.learningRate, gradNorm);
    return { gradNorm, applied };
  }

  /** The sampler reads the same arrays the optimizer updates: nothing to do. */
  async saveWeightsForSampler(): Promise<void> {}

  /** The weights that train: everything, or only the adapters. */
  private trainedWeights(): Map<string, Float32Array> {
    const { engine } = this.policyModel;
    if (!this.o.lora) return engine.weights;
    const names = new Set(loraShapes(engine.cfg, this.o.lora).keys());
    return new Map([...engine.weights].filter(([n]) => names.has(n)));
  }

  /** The whole policy (HF layout), or with LoRA only the adapters (the base is the frozen model); the optimizer. */
  saveState(tmpDir: string, dir: string): SavedState {
    const { lora, model } = this.o;
    if (lora) saveLoraAdapter(tmpDir, lora, this.trainedWeights(), this.policyModel.engine.cfg, model!);
    else writeModelFiles(tmpDir, dir, { config: this.rawConfig, weights: this.policyModel.engine.weights, tokenizerFrom: this.tokenizerFrom });
    writeAdamWState(path.join(tmpDir, OPTIMIZER_FILE), this.optimizer.state);
    return { optimizerStep: this.optimizer.state.step };
  }

  loadState(dir: string, saved: SavedState): void {
    const state = readAdamWState(path.join(dir, OPTIMIZER_FILE), saved.optimizerStep);
    const policy = this.loadPolicy(dir);
    this.optimizer.restore(state);
    this.current = policy;
    this.grads = new Map();
  }

  exportHf(dir: string, x: { adapterDir?: string; extraFiles?: (tmp: string) => void; dtype?: SaveDtype }): void {
    const { lora, model } = this.o;
    const { engine } = this.policyModel;
    const weights = lora ? mergeLora(engine.cfg, lora, engine.weights) : engine.weights;
    if (lora && x.adapterDir) saveLoraAdapter(x.adapterDir, lora, this.trainedWeights(), engine.cfg, model!);
    saveModelFolder(dir, { config: this.rawConfig, weights, dtype: x.dtype, tokenizerFrom: this.tokenizerFrom, extraFiles: x.extraFiles });
  }
}

/** A chat template file copied into an exported folder, so the trained model chats without the flag. */
export const copyChatTemplate = (file: string) => (tmp: string) => fs.copyFileSync(file, path.join(tmp, 'chat_template.jinja'));
