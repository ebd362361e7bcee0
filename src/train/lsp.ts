/**
 * The LSP training run: loads the policy and its frozen reference, runs iterations, and keeps the run folder:
 * selfplay-run.json, config.json, metrics.jsonl, samples.jsonl, checkpoints/iter-NNNNNN/ and, at the end, model/
 * (the trained HF folder). Resume, checkpoint cadence, Ctrl-C and the logs are the shared run scaffold's
 * (run-scaffold.ts). A run that applied no update, or skipped more than maxSkippedUpdates, fails (RunFailedError).
 */
import fs from 'node:fs';
import path from 'node:path';
import { RunFailedError, SelfplayError } from '../errors.ts';
import { ChatModel } from '../generate/chat.ts';
import { type RewardSource, verifierReward } from '../game/rollout.ts';
import { ModelEngine } from '../model/engine.ts';
import { initLora, type LoraConfig, loraShapes, mergeLora, saveLoraAdapter, loadLoraAdapter } from '../model/lora.ts';
import { loadModelFolder } from '../model/modelfolder.ts';
import { saveModelFolder } from '../model/save.ts';
import { AdamW } from '../optim/adamw.ts';
import { Runtime } from '../runtime/runtime.ts';
import { Progress } from '../util/progress.ts';
import { loadCheckpointState, saveCheckpoint } from './checkpoint.ts';
import { type IterationSettings, runIteration } from './lsp-iteration.ts';
import { JsonlLog, markRunFolder, readJsonl, writeJsonAtomic } from './run-folder.ts';
import { checkTarget, resumePoint, runSteps } from './run-scaffold.ts';
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
  checkpointMinutes: number;
  maxSkippedUpdates: number;
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
  /** The resolved config, written to config.json once the resume point is chosen (never before). */
  savedConfig?: unknown;
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

async function load(s: RunSettings, runtime: Runtime, log: (line: string) => void): Promise<Loaded> {
  const reference = ChatModel.load(s.model, runtime, 'model', { chatTemplateFile: s.chatTemplate ?? undefined });
  const optimizer = new AdamW({ lr: s.lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: s.weightDecay, maxGradNorm: s.gradClip, decays: (n) => !n.endsWith('norm.weight') });
  const resumed = resumePoint(s.out, (dir) => {
    const { optimizer: state, state: st } = loadCheckpointState(dir);
    return { step: st.step, value: { state, policy: loadPolicy(s, runtime, dir, reference) } };
  }, log);
  if (!resumed.loaded) return { policy: loadPolicy(s, runtime, s.model, reference), reference, optimizer, start: 0 };
  optimizer.restore(resumed.loaded.state);
  return { policy: resumed.loaded.policy, reference, optimizer, start: resumed.start };
}

/** The weights the optimizer trains: everything, or only the adapters. */
function trainedWeights(policy: ChatModel, lora: LoraConfig | null): Map<string, Float32Array> {
  if (!lora) return policy.engine.weights;
  const names = new Set(loraShapes(policy.engine.cfg, lora).keys());
  return new Map([...policy.engine.weights].filter(([n]) => names.has(n)));
}

/** A checkpoint: the whole policy, or with LoRA only the adapters (the base is the frozen model itself); optimizer. */
function checkpoint(s: RunSettings, run: Loaded, dir: string, iteration: number): void {
  const cfg = run.policy.engine.cfg;
  const lora = s.lora;
  saveCheckpoint(dir, {
    model: lora ? undefined : { config: run.reference.folder.rawConfig, weights: run.policy.engine.weights, tokenizerFrom: s.model },
    optimizer: run.optimizer.state,
    state: { step: iteration, rngState: s.seed, extra: { model: s.model } },
    extraFiles: lora ? (tmp) => saveLoraAdapter(tmp, lora, trainedWeights(run.policy, lora), cfg, s.model) : undefined,
  });
}

/** The trained model as an HF folder (LoRA merged in, the adapter saved beside it). */
function saveFinal(s: RunSettings, run: Loaded): string {
  const dir = path.join(s.out, 'model');
  const cfg = run.policy.engine.cfg;
  const weights = s.lora ? mergeLora(cfg, s.lora, run.policy.engine.weights) : run.policy.engine.weights;
  // a --chat-template goes with the trained model, so it chats without the flag
  const template = s.chatTemplate;
  const extraFiles = template ? (tmp: string) => fs.copyFileSync(template, path.join(tmp, 'chat_template.jinja')) : undefined;
  // model/ last: its presence marks the run finished, so everything else must be there before it
  if (s.lora) saveLoraAdapter(path.join(s.out, 'adapter'), s.lora, trainedWeights(run.policy, s.lora), cfg, s.model);
  saveModelFolder(dir, { config: run.reference.folder.rawConfig, weights, tokenizerFrom: s.model, extraFiles });
  return dir;
}

function status(m: Record<string, number | boolean>): string {
  const f = (k: string, d = 2) => (typeof m[k] === 'number' && Number.isFinite(m[k]) ? (m[k] as number).toFixed(d) : '-');
  return `solver R ${f('solver/reward/mean')} | challenger R ${f('challenger/reward/mean')} | valid ${f('challenger/valid_frac')} | self ${f('selfreward/mean', 1)} | kl ${f('kl/solver')}/${f('kl/challenger')}`;
}

/** Applied and skipped updates in a run's metrics (every iteration logs `updated`). */
function tallyUpdates(file: string, upTo: number): { applied: number; skipped: number } {
  const rows = readJsonl(file).filter((r) => typeof r.iteration === 'number' && r.iteration <= upTo);
  const skipped = rows.filter((r) => r.updated === false).length;
  return { applied: rows.length - skipped, skipped };
}

const SKIPPED_WHY = 'a non-finite loss, gradient or reward; see "updated" and "rewards/nonfinite" in metrics.jsonl';

/** Runs (or resumes) the run in `s.out`; returns the trained model folder, or null when interrupted. */
export async function train(s: RunSettings): Promise<string | null> {
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const runtime = new Runtime({ threads: s.threads });
  try {
    const run = await load(s, runtime, log);
    checkTarget(run.start, s.iterations, fs.existsSync(path.join(s.out, 'model', 'config.json')), 'iteration', '--iterations');
    markRunFolder(s.out, 'train');
    if (s.savedConfig !== undefined) writeJsonAtomic(path.join(s.out, 'config.json'), s.savedConfig);
    const metrics = new JsonlLog(path.join(s.out, 'metrics.jsonl'));
    const samples = new JsonlLog(path.join(s.out, 'samples.jsonl'));
    const tally = tallyUpdates(metrics.file, run.start);
    const reward = s.reward ?? verifierReward;
    const progress = new Progress({ total: s.iterations, label: 'lsp', quiet: s.quiet, logEveryMs: s.quiet ? 0 : undefined }, run.start);
    const guard = s.guard && s.guards ? GuardMonitor.resume(s as GuardSettings, s.out, run.start) : null;
    const loop = {
      out: s.out,
      total: s.iterations,
      checkpointEvery: s.checkpointEvery,
      checkpointMinutes: s.checkpointMinutes,
      logs: [metrics, samples],
      save: (dir: string, iteration: number) => checkpoint(s, run, dir, iteration),
      interruptMessage: 'interrupt: finishing this iteration, then saving a checkpoint',
    };
    // with LoRA the train graph returns gradients for the adapters only, so only they move
    const models = { policy: run.policy, reference: run.reference, optimizer: run.optimizer, reward };
    const end = await runSteps(loop, run.start, (i) => runIteration(s, models, i), async (iteration, result) => {
      if (s.periodicEval && s.evalEvery > 0 && iteration % s.evalEvery === 0) {
        Object.assign(result.metrics, await s.periodicEval(run.policy));
      }
      const trips = guard?.observe(iteration, result.metrics, result.samples) ?? [];
      metrics.append({ iteration, ...result.metrics, ...guardRecord(trips) });
      for (const sample of result.samples) samples.append({ iteration, ...sample });
      progress.update(iteration, status(result.metrics) + guardStatus(trips));
      if (guard) process.stderr.write(guard.report(trips));
      if (!result.updated && s.onNonfinite === 'stop') {
        return new SelfplayError(`iteration ${iteration}: the loss or gradient was not finite; the weights were not updated (on_nonfinite: stop)`);
      }
      tally[result.updated ? 'applied' : 'skipped']++;
      if (tally.skipped > s.maxSkippedUpdates) {
        return new RunFailedError(`iteration ${iteration}: ${tally.skipped} of ${iteration} updates were skipped (${SKIPPED_WHY}), more than --max-skipped-updates ${s.maxSkippedUpdates}; the run stopped`);
      }
      if (guard?.stops(trips)) return 'stop';
    }).finally(() => progress.finish());
    if (end.step < s.iterations) return null;
    if (tally.applied === 0) throw new RunFailedError(`the run ended without a single applied update: all ${tally.skipped} were skipped (${SKIPPED_WHY}); no model/ was written`);
    return saveFinal(s, run);
  } finally {
    await runtime.release();
  }
}
