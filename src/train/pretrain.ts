/**
 * `selfplay pretrain`: trains the default model from scratch on the embedded world's three roles.
 *
 * The run folder holds `tokenizer/` (trained once, from the fixed prompt texts), `checkpoints/iter-NNNNNN/`
 * (HF model + optimizer moments + state; the newest two are kept), `log.jsonl` (one line per logged step) and, at
 * the end, `model/` (the finished HF folder). Batches are a pure function of (seed, step), so `--resume` continues
 * exactly where the last checkpoint stopped. Resume, checkpoint cadence, Ctrl-C and the log are the shared run
 * scaffold's (run-scaffold.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import { InputError } from '../errors.ts';
import { parseModelConfig, type LlamaConfig, expectedParamShapes } from '../model/config.ts';
import { ModelEngine, padBatch } from '../model/engine.ts';
import { weightedNll } from '../model/graphs.ts';
import { loadModelFolder } from '../model/modelfolder.ts';
import { copyTokenizerFiles, saveModelFolder, type SaveDtype } from '../model/save.ts';
import { loadTokenizer, type Tokenizer } from '../model/tokenizer.ts';
import { AdamW } from '../optim/adamw.ts';
import { Runtime } from '../runtime/runtime.ts';
import { Progress } from '../util/progress.ts';
import { Rng } from '../util/rng.ts';
import { EVAL_SET_PATH, evalInstanceKeys } from '../world/evalset.ts';
import { trainWorldTokenizer, writeTokenizerFiles } from '../world/tokenizer-train.ts';
import { allPromptTexts } from '../world/vocab.ts';
import type { Role } from '../world/corpus.ts';
import type { NoiseKindWeights } from '../world/noise.ts';
import { loadCheckpointState, saveCheckpoint } from './checkpoint.ts';
import { JsonlLog, markRunFolder } from './run-folder.ts';
import { checkTarget, resumePoint, runSteps } from './run-scaffold.ts';
import { batchAt, type BatchPlan, drawnInstanceKeys, type RoleBatch, type RolePhase } from './pretrain-data.ts';

export interface ModelShape {
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
}

export interface PretrainOptions {
  seed: number;
  out: string;
  /** Total optimizer steps (the learning-rate schedule spans them). */
  steps: number;
  /** Steps at the start that train the solver alone, on short rows. */
  solverOnlySteps: number;
  /** Role weights after the solver-only phase. */
  mix: Record<Role, number>;
  batchSize: Record<Role, number>;
  /** A later phase with another mix and batch sizes. */
  later?: RolePhase;
  lr: number;
  warmupSteps: number;
  /** The cosine schedule ends at lr * minLrFraction. */
  minLrFraction: number;
  weightDecay: number;
  gradClip: number;
  model: ModelShape;
  checkpointEvery: number;
  /** Minutes of training between checkpoints as well (0 = by steps only). */
  checkpointMinutes: number;
  /** Storage dtype of the final model folder. */
  saveDtype: SaveDtype;
  threads?: number;
  quiet?: boolean;
  /** Stop after this many steps in this process (the run stays resumable); for smoke tests and time slicing. */
  maxStepsThisRun?: number;
  /** Relative weights of the kinds of invalid instruction in judge batches (default uniform). */
  noiseKindWeights?: NoiseKindWeights;
  /** Loss weight multiplier of the judge's verdict token on the instruction (default 1). */
  judgeVerdictWeight?: number;
  /**
   * Continue from this world model folder (its weights and tokenizer; a fresh optimizer) instead of a random
   * initialisation; `model` is then ignored. For a world change after a model has shipped.
   */
  init?: string;
}

export const PRETRAIN_DEFAULTS: Omit<PretrainOptions, 'out'> = {
  seed: 1,
  steps: 6000,
  solverOnlySteps: 1200,
  mix: { solver: 0.45, challenger: 0.2, judge: 0.35 },
  batchSize: { solver: 48, challenger: 24, judge: 12 },
  // copying the Box 1 template into the answer is learnt slowest: more, smaller challenger batches later on
  later: { fromStep: 2800, mix: { solver: 0.3, challenger: 0.35, judge: 0.35 }, batchSize: { solver: 48, challenger: 16, judge: 12 } },
  lr: 1.5e-3,
  warmupSteps: 100,
  minLrFraction: 0.1,
  weightDecay: 0.01,
  gradClip: 1,
  model: { hiddenSize: 256, intermediateSize: 688, numLayers: 6, numHeads: 8, numKvHeads: 4 },
  checkpointEvery: 200,
  checkpointMinutes: 2,
  saveDtype: 'float16',
};

/**
 * The kinds of invalid instruction the v1 default model's judge most often called "well formed" (mixed templates
 * 10 of 16, garbled 5, wrong content 4, the rest 0-3; scripts/judge-diagnosis.ts), weighted up in continued runs.
 */
export const HARD_NOISE_WEIGHTS: NoiseKindWeights = {
  'mixed-templates': 4,
  'garbled-template': 3,
  'wrong-content': 2,
  truncated: 2,
  'out-of-range': 2,
  'answer-leak': 2,
  quoted: 2,
  duplicated: 2,
};

/**
 * Continued pretraining (`--init DIR`): the model already plays its roles, so no solver-only phase, a lower peak
 * learning rate, and judge-heavy steps with the judge's hardest invalid kinds weighted up and its verdict token on
 * the instruction ("well" formed / "malformed") weighted 8x (telling valid from invalid instructions is what LSP's
 * self-reward needs); the solver and challenger steps keep those roles from fading.
 */
export const CONTINUE_DEFAULTS: Omit<PretrainOptions, 'out'> = {
  ...PRETRAIN_DEFAULTS,
  seed: 3,
  steps: 1000,
  solverOnlySteps: 0,
  mix: { solver: 0.2, challenger: 0.2, judge: 0.6 },
  noiseKindWeights: HARD_NOISE_WEIGHTS,
  judgeVerdictWeight: 8,
  batchSize: PRETRAIN_DEFAULTS.later!.batchSize, // the sizes of the from-scratch run's later phase
  later: undefined,
  // the from-scratch run's final rate: at 4e-4 the judge's verdicts got worse for the first 200 steps (re-warming)
  lr: 1.5e-4,
  warmupSteps: 20,
};

/**
 * The instances the shipped default model's stage-2 run drew (CONTINUE_DEFAULTS from models/default's card: seed 3,
 * 1000 steps, only data/world-eval-v3.jsonl excluded then), replayed. The larger held-out set excludes them. Stage 1
 * ran on world v1's code and cannot be replayed here; the held-out set caps each level at 5% of its instances.
 */
export function defaultModelStage2Draws(): Set<string> {
  const c = CONTINUE_DEFAULTS;
  const plan = { seed: c.seed, solverOnlySteps: c.solverOnlySteps, mix: c.mix, batchSize: c.batchSize, later: c.later, exclude: evalInstanceKeys([EVAL_SET_PATH]), noiseKindWeights: c.noiseKindWeights };
  return drawnInstanceKeys(plan, c.steps);
}

/** Linear warmup, then cosine from lr down to lr * minLrFraction at the last step. */
export function learningRate(o: Pick<PretrainOptions, 'lr' | 'warmupSteps' | 'minLrFraction' | 'steps'>, step: number): number {
  if (step < o.warmupSteps) return (o.lr * (step + 1)) / o.warmupSteps;
  const progress = Math.min(1, (step - o.warmupSteps) / Math.max(1, o.steps - o.warmupSteps));
  return o.lr * (o.minLrFraction + (1 - o.minLrFraction) * 0.5 * (1 + Math.cos(Math.PI * progress)));
}

/** The HF config.json of a fresh world model. */
export function worldModelConfig(shape: ModelShape, tok: Tokenizer): Record<string, unknown> {
  const raw = {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    vocab_size: tok.vocabSize,
    hidden_size: shape.hiddenSize,
    intermediate_size: shape.intermediateSize,
    num_hidden_layers: shape.numLayers,
    num_attention_heads: shape.numHeads,
    num_key_value_heads: shape.numKvHeads,
    head_dim: shape.hiddenSize / shape.numHeads,
    hidden_act: 'silu',
    max_position_embeddings: 1024,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    tie_word_embeddings: true,
    bos_token_id: tok.bosId ?? null,
    eos_token_id: tok.eosIds[0],
    pad_token_id: tok.padId ?? 0,
    torch_dtype: 'float32',
  };
  parseModelConfig(raw, 'config.json');
  return raw;
}

/** Seeded initial weights: N(0, 0.02), residual output projections scaled by 1/sqrt(2 layers), norms 1. */
export function initWeights(cfg: LlamaConfig, seed: number): Map<string, Float32Array> {
  const rng = new Rng(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
  const weights = new Map<string, Float32Array>();
  for (const [name, shape] of expectedParamShapes(cfg)) {
    const a = new Float32Array(shape.reduce((x, y) => x * y, 1));
    if (name.endsWith('norm.weight')) a.fill(1);
    else if (!name.endsWith('.bias')) {
      const std = /o_proj|down_proj/.test(name) ? 0.02 / Math.sqrt(2 * cfg.numLayers) : 0.02;
      for (let i = 0; i < a.length; i++) a[i] = std * gauss();
    }
    weights.set(name, a);
  }
  return weights;
}

/** Trains the world tokenizer (fixed prompt words + characters) into `dir` and loads it. */
export function makeWorldTokenizer(dir: string): Tokenizer {
  const trained = trainWorldTokenizer([], { fixedTexts: allPromptTexts(), minCount: Number.MAX_SAFE_INTEGER });
  writeTokenizerFiles(dir, trained);
  return loadTokenizer(dir);
}

/**
 * Per-token loss weights: 1/total on completion tokens, times the batch's emphasis on its emphasised tokens. Plain
 * rows (`shifted`): entry t predicts token t+1; shared-prefix rows: entry t predicts row token t.
 */
export function tokenWeights(batch: RoleBatch, B: number, width: number, shifted: boolean): Float32Array {
  const w = new Float32Array(B * width);
  batch.rows.forEach((row, b) => {
    for (let j = batch.promptLengths[b]; j < row.length; j++) w[b * width + (shifted ? j - 1 : j)] = 1 / batch.completionTokens;
    const at = batch.emphasis?.positions[b] ?? -1;
    if (at >= 0) w[b * width + (shifted ? at - 1 : at)] *= batch.emphasis!.weight;
  });
  return w;
}

async function trainOn(engine: ModelEngine, batch: RoleBatch): Promise<{ loss: number; grads: Map<string, Float32Array> }> {
  const padded = padBatch(batch.rows, engine.cfg.vocabSize);
  if (batch.prefix.length === 0) {
    const w = tokenWeights(batch, padded.B, padded.T - 1, true);
    return engine.trainStep(padded, weightedNll, { token_weights: { data: w, dims: [padded.B, padded.T - 1] } });
  }
  const w = tokenWeights(batch, padded.B, padded.T, false);
  return engine.trainStepShared(batch.prefix, padded, weightedNll, { token_weights: { data: w, dims: [padded.B, padded.T] } });
}

interface RunState {
  engine: ModelEngine;
  optimizer: AdamW;
  tok: Tokenizer;
  tokenizerDir: string;
  rawConfig: Record<string, unknown>;
  step: number;
  extra: { tokens: number; lossTokens: number; seconds: number };
}

async function startOrResume(o: PretrainOptions, runtime: Runtime, log: (line: string) => void): Promise<RunState> {
  const tokenizerDir = path.join(o.out, 'tokenizer');
  const optimizer = new AdamW({ lr: o.lr, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: o.weightDecay, maxGradNorm: o.gradClip, decays: (n) => !n.endsWith('norm.weight') });
  const resumed = resumePoint(o.out, (dir) => {
    const folder = loadModelFolder(dir);
    const { optimizer: state, state: s } = loadCheckpointState(dir);
    return { step: s.step, value: { folder, state, extra: s.extra } };
  }, log);
  if (resumed.loaded) {
    const { folder, state, extra } = resumed.loaded;
    optimizer.restore(state);
    const engine = new ModelEngine(folder.cfg, folder.weights, runtime);
    const counters = { tokens: 0, lossTokens: 0, seconds: 0, ...(extra as object) } as RunState['extra'];
    return { engine, optimizer, tok: loadTokenizer(tokenizerDir), tokenizerDir, rawConfig: folder.rawConfig, step: resumed.start, extra: counters };
  }
  fs.mkdirSync(o.out, { recursive: true });
  markRunFolder(o.out, 'pretrain');
  const { engine, tok, rawConfig } = o.init ? fromModel(o.init, tokenizerDir, runtime) : fromScratch(o, tokenizerDir, runtime);
  return { engine, optimizer, tok, tokenizerDir, rawConfig, step: 0, extra: { tokens: 0, lossTokens: 0, seconds: 0 } };
}

type Start = Pick<RunState, 'engine' | 'tok' | 'rawConfig'>;

/** A fresh tokenizer and seeded random weights. */
function fromScratch(o: PretrainOptions, tokenizerDir: string, runtime: Runtime): Start {
  const tok = makeWorldTokenizer(tokenizerDir);
  const rawConfig = worldModelConfig(o.model, tok);
  const cfg = parseModelConfig(rawConfig, path.join(o.out, 'config.json'));
  return { engine: new ModelEngine(cfg, initWeights(cfg, o.seed), runtime), tok, rawConfig };
}

/** An existing world model (`--init`): its weights, and a copy of its tokenizer in the run folder. */
function fromModel(dir: string, tokenizerDir: string, runtime: Runtime): Start {
  const folder = loadModelFolder(dir);
  if (!folder.tokenizer) throw new InputError(`--init ${dir}: no tokenizer.json; a world model folder has its tokenizer`);
  fs.mkdirSync(tokenizerDir, { recursive: true });
  copyTokenizerFiles(dir, tokenizerDir);
  return { engine: new ModelEngine(folder.cfg, folder.weights, runtime), tok: loadTokenizer(tokenizerDir), rawConfig: folder.rawConfig };
}

function checkpoint(o: PretrainOptions, run: RunState, dir: string): void {
  saveCheckpoint(dir, {
    model: { config: run.rawConfig, weights: run.engine.weights, tokenizerFrom: run.tokenizerDir },
    optimizer: run.optimizer.state,
    state: { step: run.step, rngState: o.seed, extra: { ...run.extra, options: o } },
  });
}

function checkOptions(o: PretrainOptions): void {
  if (!(Number.isInteger(o.steps) && o.steps > 0)) throw new InputError(`pretrain: steps must be a positive integer, got ${o.steps}`);
  if (o.model.hiddenSize % o.model.numHeads !== 0) throw new InputError('pretrain: hidden size must be divisible by the number of heads');
  if (o.model.numHeads % o.model.numKvHeads !== 0) throw new InputError('pretrain: heads must be a multiple of key/value heads');
}

/** One optimizer step on the batch of step `i`; returns its log record. */
async function trainStep(o: PretrainOptions, run: RunState, plan: BatchPlan, i: number) {
  const t0 = performance.now();
  const batch = batchAt(plan, run.tok, i);
  const { loss, grads } = await trainOn(run.engine, batch);
  const lr = learningRate(o, i);
  const { gradNorm } = run.optimizer.step(run.engine.weights, grads, lr);
  const tokens = batch.prefix.length + batch.rows.reduce((a, r) => a + r.length, 0);
  run.extra.tokens += tokens;
  run.extra.lossTokens += batch.completionTokens;
  run.extra.seconds += (performance.now() - t0) / 1000;
  run.step = i + 1;
  return { role: batch.role, loss, gradNorm, lr, tokens, seconds: run.extra.seconds };
}

/** Runs (or resumes) pretraining; returns the final model folder, or null when stopped early (resumable). */
export async function pretrain(o: PretrainOptions): Promise<string | null> {
  checkOptions(o);
  const runtime = new Runtime({ threads: o.threads });
  try {
    const run = await startOrResume(o, runtime, (line) => process.stderr.write(`${line}\n`));
    checkTarget(run.step, o.steps, fs.existsSync(path.join(o.out, 'model', 'config.json')), 'step', '--steps');
    markRunFolder(o.out, 'pretrain');
    const plan: BatchPlan = {
      seed: o.seed,
      solverOnlySteps: o.solverOnlySteps,
      mix: o.mix,
      batchSize: o.batchSize,
      later: o.later,
      exclude: evalInstanceKeys(),
      noiseKindWeights: o.noiseKindWeights,
      judgeVerdictWeight: o.judgeVerdictWeight,
    };
    const progress = new Progress({ total: o.steps, label: 'pretrain', quiet: o.quiet }, run.step);
    const emaLoss: Partial<Record<Role, number>> = {};
    const log = new JsonlLog(path.join(o.out, 'log.jsonl'), 'step');
    const loop = {
      out: o.out,
      total: o.steps,
      stopAt: run.step + (o.maxStepsThisRun ?? Infinity),
      checkpointEvery: o.checkpointEvery,
      checkpointMinutes: o.checkpointMinutes ?? 0,
      logs: [log],
      save: (dir: string) => checkpoint(o, run, dir),
    };
    const end = await runSteps(loop, run.step, (i) => trainStep(o, run, plan, i), (step, r) => {
      emaLoss[r.role] = emaLoss[r.role] === undefined ? r.loss : 0.95 * emaLoss[r.role]! + 0.05 * r.loss;
      log.append({ step, ...r });
      const status = Object.entries(emaLoss).map(([role, l]) => `${role} ${l!.toFixed(3)}`).join(' ');
      progress.update(step, `${status} | ${(run.extra.tokens / run.extra.seconds).toFixed(0)} tok/s`);
    }).finally(() => progress.finish());
    if (end.step < o.steps) return null;
    const modelDir = path.join(o.out, 'model');
    saveModelFolder(modelDir, { config: run.rawConfig, weights: run.engine.weights, dtype: o.saveDtype, tokenizerFrom: run.tokenizerDir });
    return modelDir;
  } finally {
    await runtime.release();
  }
}
