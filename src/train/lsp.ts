/**
 * The LSP training run: loads the policy and its frozen reference, runs iterations, and keeps the run folder:
 * config.json (written by the caller), metrics.jsonl, samples.jsonl, checkpoints/iter-NNNNNN/ and, at the end,
 * model/ (the trained HF folder). Every iteration's randomness is a function of (seed, iteration), so a resumed run
 * repeats exactly what the uninterrupted one would have done. Ctrl-C finishes the iteration, checkpoints, and stops.
 */
import fs from 'node:fs';
import path from 'node:path';
import { InputError, SelfplayError } from '../errors.ts';
import { ChatModel } from '../generate/chat.ts';
import { type RewardSource, verifierReward } from '../game/rollout.ts';
import { ModelEngine } from '../model/engine.ts';
import { initLora, type LoraConfig, loraShapes, mergeLora, saveLoraAdapter, loadLoraAdapter } from '../model/lora.ts';
import { loadModelFolder } from '../model/modelfolder.ts';
import { saveModelFolder } from '../model/save.ts';
import { AdamW } from '../optim/adamw.ts';
import { Runtime } from '../runtime/runtime.ts';
import { Progress } from '../util/progress.ts';
import { checkpointName, latestCheckpoint, loadCheckpointState, saveCheckpoint } from './checkpoint.ts';
import { type IterationSettings, runIteration } from './lsp-iteration.ts';
import { JsonlLog } from './run-folder.ts';
import { GuardMonitor, type GuardSettings, guardRecord, guardStatus } from './guard-monitor.ts';

/** A quick evaluation of the policy, run every `evalEvery` iterations; its metrics join that iteration's line. */
export type PeriodicEval = (policy: ChatModel) => Promise<Record<string, number>>;

export interface RunSettings extends IterationSettings, Partial<GuardSettings> {
  model: string;
  /** A Jinja chat template file used instead of the model folder's own (null: the folder's). */
  chatTemplate: string | null;
  iterations: number;
  weightDecay: number;
  gradClip: number;
  lora: LoraConfig | null;
  checkpointEvery: number;
  /** Every this many iterations (0 = never), `periodicEval` runs (if the caller gave one). */
  evalEvery: number;
  /** Passed in by the caller (the CLI gives the world's solver-accuracy slice), so training never imports eval/. */
  periodicEval?: PeriodicEval;
  onNonfinite: 'skip' | 'stop';
  out: string;
  quiet: boolean;
  threads?: number;
  /** Builds the reward source (verifier by default; reward models are loaded by the caller). */
  reward?: RewardSource;
}

interface Loaded {
  policy: ChatModel;
  reference: ChatModel;
  optimizer: AdamW;
  start: number;
}

/** The policy: the base weights (copied, so the reference stays frozen), plus fresh or restored LoRA adapters. */
function loadPolicy(s: RunSettings, runtime: Runtime, from: string, reference: ChatModel): ChatModel {
  if (!s.lora) {
    const folder = loadModelFolder(from, { chatTemplateFile: s.chatTemplate ?? undefined });
    return new ChatModel(folder, new ModelEngine(folder.cfg, folder.weights, runtime, 'model'), folder.tokenizer!);
  }
  const cfg = reference.folder.cfg;
  const adapters = from === s.model ? initLora(cfg, s.lora, s.seed) : loadLoraAdapter(from, cfg).weights;
  const weights = new Map([...reference.folder.weights, ...adapters]);
  return new ChatModel({ ...reference.folder, weights }, new ModelEngine(cfg, weights, runtime, 'policy', s.lora), reference.tokenizer);
}

async function load(s: RunSettings, runtime: Runtime): Promise<Loaded> {
  const reference = ChatModel.load(s.model, runtime, 'model', { chatTemplateFile: s.chatTemplate ?? undefined });
  const optimizer = new AdamW({ lr: s.lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: s.weightDecay, maxGradNorm: s.gradClip, decays: (n) => !n.endsWith('norm.weight') });
  const last = latestCheckpoint(s.out);
  if (!last) return { policy: loadPolicy(s, runtime, s.model, reference), reference, optimizer, start: 0 };
  const { optimizer: state, state: st } = loadCheckpointState(last);
  optimizer.restore(state);
  return { policy: loadPolicy(s, runtime, last, reference), reference, optimizer, start: st.step };
}

/** The weights the optimizer trains: everything, or only the adapters. */
function trainedWeights(policy: ChatModel, lora: LoraConfig | null): Map<string, Float32Array> {
  if (!lora) return policy.engine.weights;
  const names = new Set(loraShapes(policy.engine.cfg, lora).keys());
  return new Map([...policy.engine.weights].filter(([n]) => names.has(n)));
}

function checkpoint(s: RunSettings, run: Loaded, iteration: number): void {
  const dir = path.join(s.out, 'checkpoints', checkpointName(iteration));
  const cfg = run.policy.engine.cfg;
  const base = s.lora ? run.reference.folder.weights : run.policy.engine.weights;
  const lora = s.lora;
  saveCheckpoint(dir, {
    config: run.reference.folder.rawConfig,
    weights: base,
    optimizer: run.optimizer.state,
    state: { step: iteration, rngState: s.seed, extra: { model: s.model } },
    tokenizerFrom: s.model,
    extraFiles: lora ? (tmp) => saveLoraAdapter(tmp, lora, trainedWeights(run.policy, lora), cfg, s.model) : undefined,
  });
  const root = path.join(s.out, 'checkpoints');
  const names = fs.readdirSync(root).filter((n) => /^iter-\d+$/.test(n)).sort();
  for (const old of names.slice(0, -2)) fs.rmSync(path.join(root, old), { recursive: true, force: true });
}

/** The trained model as an HF folder (LoRA merged in, the adapter saved beside it). */
function saveFinal(s: RunSettings, run: Loaded): string {
  const dir = path.join(s.out, 'model');
  const cfg = run.policy.engine.cfg;
  const weights = s.lora ? mergeLora(cfg, s.lora, run.policy.engine.weights) : run.policy.engine.weights;
  // a --chat-template goes with the trained model, so it chats without the flag
  const template = s.chatTemplate;
  const extraFiles = template ? (tmp: string) => fs.copyFileSync(template, path.join(tmp, 'chat_template.jinja')) : undefined;
  saveModelFolder(dir, { config: run.reference.folder.rawConfig, weights, tokenizerFrom: s.model, extraFiles });
  if (s.lora) saveLoraAdapter(path.join(s.out, 'adapter'), s.lora, trainedWeights(run.policy, s.lora), cfg, s.model);
  return dir;
}

function status(m: Record<string, number | boolean>): string {
  const f = (k: string, d = 2) => (typeof m[k] === 'number' && Number.isFinite(m[k]) ? (m[k] as number).toFixed(d) : '-');
  return `solver R ${f('solver/reward/mean')} | challenger R ${f('challenger/reward/mean')} | valid ${f('challenger/valid_frac')} | self ${f('selfreward/mean', 1)} | kl ${f('kl/solver')}/${f('kl/challenger')}`;
}

/** Runs (or resumes) the run in `s.out`; returns the trained model folder, or null when interrupted. */
export async function train(s: RunSettings): Promise<string | null> {
  const runtime = new Runtime({ threads: s.threads });
  const run = await load(s, runtime);
  const metrics = new JsonlLog(path.join(s.out, 'metrics.jsonl'));
  const samples = new JsonlLog(path.join(s.out, 'samples.jsonl'));
  metrics.truncateTo(run.start);
  samples.truncateTo(run.start);
  const reward = s.reward ?? verifierReward;
  const progress = new Progress({ total: s.iterations, label: 'lsp', quiet: s.quiet, logEveryMs: s.quiet ? 0 : undefined }, run.start);
  let interrupted = false;
  const onSigint = () => {
    interrupted = true;
    process.stderr.write('\ninterrupt: finishing this iteration, then saving a checkpoint (Ctrl-C again to abort)\n');
    process.off('SIGINT', onSigint);
  };
  process.on('SIGINT', onSigint);
  let iteration = run.start;
  const guard = s.guard && s.guards ? GuardMonitor.resume(s as GuardSettings, s.out, run.start) : null;
  try {
    while (iteration < s.iterations && !interrupted) {
      // with LoRA the train graph returns gradients for the adapters only, so only they move
      const models = { policy: run.policy, reference: run.reference, optimizer: run.optimizer, reward };
      const result = await runIteration(s, models, iteration);
      iteration++;
      if (s.periodicEval && s.evalEvery > 0 && iteration % s.evalEvery === 0) {
        Object.assign(result.metrics, await s.periodicEval(run.policy));
      }
      const trips = guard?.observe(iteration, result.metrics, result.samples) ?? [];
      metrics.append({ iteration, ...result.metrics, ...guardRecord(trips) });
      for (const sample of result.samples) samples.append({ iteration, ...sample });
      if (!result.updated && s.onNonfinite === 'stop') {
        throw new SelfplayError(`iteration ${iteration}: the loss or gradient was not finite; the weights were not updated (on_nonfinite: stop)`);
      }
      if (iteration % s.checkpointEvery === 0 || iteration === s.iterations) checkpoint(s, run, iteration);
      progress.update(iteration, status(result.metrics) + guardStatus(trips));
      if (guard) process.stderr.write(guard.report(trips));
      if (guard?.stops(trips)) interrupted = true;
    }
  } finally {
    process.off('SIGINT', onSigint);
    if (iteration > run.start && iteration % s.checkpointEvery !== 0 && iteration !== s.iterations) checkpoint(s, run, iteration);
    progress.finish();
  }
  const done = iteration >= s.iterations ? saveFinal(s, run) : null;
  await runtime.release();
  return done;
}

export function checkRunFolder(out: string, resume: boolean): void {
  const has = fs.existsSync(path.join(out, 'metrics.jsonl')) || fs.existsSync(path.join(out, 'checkpoints'));
  if (has && !resume) throw new InputError(`${out} already holds a run; continue it with --resume ${out}, or choose another --out`);
  if (!has && resume) throw new InputError(`--resume ${out}: no run there (no metrics.jsonl or checkpoints/)`);
}
