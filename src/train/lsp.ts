/**
 * The LSP training run: loads the policy and its frozen reference, runs iterations, and keeps the run folder:
 * selfplay-run.json, config.json, metrics.jsonl, samples.jsonl, checkpoints/iter-NNNNNN/ and, at the end, model/
 * (the trained HF folder). Resume, checkpoint cadence, Ctrl-C and the logs are the shared run scaffold's
 * (run-scaffold.ts). A run that applied no update, or skipped more than maxSkippedUpdates, fails (RunFailedError).
 */
import fs from 'node:fs';
import path from 'node:path';
import { backendCompleter } from '../backend/chat.ts';
import type { PolicyBackend } from '../backend/backend.ts';
import { copyChatTemplate, LocalBackend } from '../backend/local.ts';
import { RunFailedError, SelfplayError } from '../errors.ts';
import type { ChatModel, Completer } from '../generate/chat.ts';
import { type RewardSource, verifierReward } from '../game/rollout.ts';
import type { LoraConfig } from '../model/lora.ts';
import { Runtime } from '../runtime/runtime.ts';
import { Progress } from '../util/progress.ts';
import { loadCheckpointMeta, saveCheckpoint } from './checkpoint.ts';
import { loadRemote } from './remote-run.ts';
import { type IterationModels, type IterationSettings, runIteration } from './lsp-iteration.ts';
import { JsonlLog, markRunFolder, readJsonl, writeJsonAtomic } from './run-folder.ts';
import { checkTarget, resumePoint, runSteps } from './run-scaffold.ts';
import { GuardMonitor, type GuardSettings, guardRecord, guardStatus } from './guard-monitor.ts';

/** A quick evaluation of the policy, run every `evalEvery` iterations; its metrics join that iteration's line. */
export type PeriodicEval = (policy: Completer) => Promise<Record<string, number>>;

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
  /** 'local' (default) or 'tinker:URL', with the service's settings (src/rl/config.ts) and API key (never saved). */
  backend?: string;
  baseModel?: string | null;
  remoteRetries?: number;
  remoteTimeoutSeconds?: number;
  apiKey?: string | null;
}

/** The run's backend, with what the loop needs around it. */
export interface Loaded {
  backend: PolicyBackend;
  /** Renders prompts and decodes samples for both models (the trained model's tokenizer and chat template). */
  text: ChatModel;
  /** Steps already done. */
  start: number;
  /** Writes the checkpoint of the state after `iteration` iterations into `dir`. */
  checkpoint: (dir: string, iteration: number) => Promise<void>;
  /** Saves the trained model; returns where it is (an HF folder, or what a service keeps and the file saying so). */
  saveFinal: () => Promise<string>;
  /** The model the run saved at its end, if it already has (a finished run). */
  finished: () => boolean;
}

/** A local run: the backend with the policy of a new run, or of the newest usable checkpoint in the run folder. */
function loadLocal(s: RunSettings, runtime: Runtime, log: (line: string) => void): Loaded {
  const adam = { lr: s.lr, weightDecay: s.weightDecay, gradClip: s.gradClip };
  const backend = new LocalBackend({ model: s.model, chatTemplate: s.chatTemplate, lora: s.lora, seed: s.seed, runtime, adam });
  const resumed = resumePoint(s.out, (dir) => {
    const { state, optimizerStep } = loadCheckpointMeta(dir);
    backend.loadState(dir, { optimizerStep });
    return { step: state.step, value: true };
  }, log);
  if (!resumed.loaded) backend.start();
  return {
    backend,
    text: backend.referenceModel,
    start: resumed.start,
    checkpoint: async (dir, iteration) => saveCheckpoint(dir, { backend, state: { step: iteration, rngState: s.seed, extra: { model: s.model } } }),
    saveFinal: async () => saveFinal(s, backend),
    finished: () => fs.existsSync(path.join(s.out, 'model', 'config.json')),
  };
}

/** The trained model as an HF folder (LoRA merged in, the adapter saved beside it). */
function saveFinal(s: RunSettings, backend: LocalBackend): string {
  const dir = path.join(s.out, 'model');
  // a --chat-template goes with the trained model, so it chats without the flag
  const extraFiles = s.chatTemplate ? copyChatTemplate(s.chatTemplate) : undefined;
  // model/ last: its presence marks the run finished, so everything else must be there before it
  backend.exportHf(dir, { adapterDir: s.lora ? path.join(s.out, 'adapter') : undefined, extraFiles });
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
    const run = s.backend?.startsWith('tinker:') ? await loadRemote(s, runtime, log) : loadLocal(s, runtime, log);
    checkTarget(run.start, s.iterations, run.finished(), 'iteration', '--iterations');
    markRunFolder(s.out, 'train');
    if (s.savedConfig !== undefined) writeJsonAtomic(path.join(s.out, 'config.json'), s.savedConfig);
    const metrics = new JsonlLog(path.join(s.out, 'metrics.jsonl'));
    const samples = new JsonlLog(path.join(s.out, 'samples.jsonl'));
    const tally = tallyUpdates(metrics.file, run.start);
    const reward = s.reward ?? verifierReward;
    const progress = new Progress({ total: s.iterations, label: s.mode, quiet: s.quiet, logEveryMs: s.quiet ? 0 : undefined }, run.start);
    const guard = s.guard && s.guards ? GuardMonitor.resume(s as GuardSettings, s.out, run.start) : null;
    const loop = {
      out: s.out,
      total: s.iterations,
      checkpointEvery: s.checkpointEvery,
      checkpointMinutes: s.checkpointMinutes,
      logs: [metrics, samples],
      save: (dir: string, iteration: number) => run.checkpoint(dir, iteration),
      interruptMessage: 'interrupt: finishing this iteration, then saving a checkpoint',
    };
    const { backend, text } = run;
    const models: IterationModels = { backend, policy: backendCompleter(text, backend.policy), reference: backendCompleter(text, backend.reference), reward };
    const end = await runSteps(loop, run.start, (i) => runIteration(s, models, i), async (iteration, result) => {
      if (s.periodicEval && s.evalEvery > 0 && iteration % s.evalEvery === 0) {
        Object.assign(result.metrics, await s.periodicEval(models.policy));
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
    return await run.saveFinal();
  } finally {
    await runtime.release();
  }
}
