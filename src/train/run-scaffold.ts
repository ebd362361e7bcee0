/**
 * What every training run shares, whatever it trains (LSP/GRPO in lsp.ts, pretraining in pretrain.ts):
 *
 * - start: leftovers of killed saves (`*.tmp-*`, `*.old-*`) are removed; the newest checkpoint that verifies and
 *   loads is chosen (a damaged newer one is named, skipped and deleted); only then are the logs cut back to it;
 * - the loop: a step, then its record (logs), then a checkpoint when due: every `checkpointEvery` steps, every
 *   `checkpointMinutes` of training, at the last step, on Ctrl-C and when a step throws; the newest two are kept;
 * - Ctrl-C finishes the step, checkpoints and returns (a second Ctrl-C aborts at once).
 *
 * A step's randomness is a function of (seed, step), so a run resumed from any checkpoint repeats exactly what the
 * uninterrupted run did. What a crash (SIGKILL, out of memory, power) costs is the work since the last checkpoint:
 * at most `checkpointMinutes` of training or `checkpointEvery` steps, whichever comes first.
 */
import fs from 'node:fs';
import path from 'node:path';
import { InputError, ModelFormatError, SelfplayError } from '../errors.ts';
import { removeStaleTemps } from '../util/fs.ts';
import { checkpointName, checkpointProblem, checkpointsNewestFirst, pruneCheckpoints } from './checkpoint.ts';
import type { JsonlLog } from './run-folder.ts';

export interface Resumed<T> {
  /** Steps already done (0 for a new run). */
  start: number;
  /** What `load` returned for the chosen checkpoint (undefined for a new run). */
  loaded?: T;
}

/**
 * Chooses where the run in `out` continues: the newest checkpoint that verifies (checkpointProblem) and that `load`
 * reads without a format error. Says which one and why on `log`. Removes stale temporaries first and the damaged
 * checkpoints newer than the chosen one after. Throws when checkpoints exist but none can be used.
 */
export function resumePoint<T>(out: string, load: (dir: string) => { step: number; value: T }, log: (line: string) => void): Resumed<T> {
  // a model/ caught between its two renames is dropped, not restored: the last checkpoint makes it again
  const stale = [...removeStaleTemps(out, false), ...removeStaleTemps(path.join(out, 'checkpoints'))];
  if (stale.length) log(`removed leftovers of an interrupted save: ${stale.join(', ')}`);
  const damaged: { dir: string; why: string }[] = [];
  for (const dir of checkpointsNewestFirst(out)) {
    let why = checkpointProblem(dir);
    if (why === null) {
      try {
        const { step, value } = load(dir);
        for (const d of damaged) fs.rmSync(d.dir, { recursive: true, force: true });
        const skipped = damaged.map((d) => `${path.basename(d.dir)} is damaged (${d.why}; deleted)`).join('; ');
        log(skipped ? `resume: ${skipped}; continuing from ${path.basename(dir)}, the newest checkpoint that verifies` : `resume: continuing from ${path.basename(dir)}`);
        return { start: step, loaded: value };
      } catch (e) {
        if (!(e instanceof ModelFormatError)) throw e;
        why = e.message;
      }
    }
    damaged.push({ dir, why });
  }
  if (damaged.length) {
    throw new ModelFormatError(`${path.join(out, 'checkpoints')}: no checkpoint can be used (${damaged.map((d) => `${path.basename(d.dir)}: ${d.why}`).join('; ')}); the run cannot continue`);
  }
  return { start: 0 };
}

/** Refuses a resume whose target is behind where the run already is, or a run that is already finished. */
export function checkTarget(start: number, total: number, finished: boolean, unit: string, flag: string): void {
  if (start > total) {
    throw new InputError(`the run is already at ${unit} ${start}, past ${flag} ${total}; nothing was changed. To train further, pass ${flag} N with N > ${start}`);
  }
  if (start === total && finished) {
    throw new InputError(`the run already finished all ${total} ${unit}s (its model is saved); nothing was changed. To train further, pass ${flag} N with N > ${total}`);
  }
}

export interface LoopOptions {
  out: string;
  /** The run's last step: it always checkpoints. */
  total: number;
  /** Stop before this step in this process (default: total). */
  stopAt?: number;
  checkpointEvery: number;
  /** Minutes of training between checkpoints, besides every `checkpointEvery` steps (0 = by steps only). */
  checkpointMinutes: number;
  /** The logs cut back to the resume point (records keyed by their step). */
  logs: JsonlLog[];
  /**
   * Writes the checkpoint of the state after `step` steps into `dir` (saveCheckpoint). May be async (a remote
   * backend saves on its service first): the loop awaits what it returns.
   */
  save: (dir: string, step: number) => void;
  /** Said on the first Ctrl-C. */
  interruptMessage?: string;
  /** Milliseconds clock (tests). */
  now?: () => number;
}

export interface LoopEnd {
  /** Steps done when the loop ended. */
  step: number;
  interrupted: boolean;
}

/** Checkpoint now? After `done` steps, `ms` milliseconds after the last checkpoint. */
export function checkpointDue(o: Pick<LoopOptions, 'total' | 'checkpointEvery' | 'checkpointMinutes'>, done: number, ms: number): boolean {
  return done % o.checkpointEvery === 0 || done === o.total || (o.checkpointMinutes > 0 && ms >= o.checkpointMinutes * 60_000);
}

/** What `record` returns: nothing to go on, the error that stops the run once its state is checkpointed, or 'stop' to end cleanly (a tripped guard) after that checkpoint. */
export type Verdict = Error | 'stop' | void;

/**
 * Runs steps `start..stopAt-1`: `step(i)` does the work of step i (its state changes must be complete when it
 * returns, none made when it throws), `record(i + 1, result)` logs it and returns an error to stop the run (the
 * state after i + 1 steps is checkpointed first). When `step` throws, the state so far is checkpointed; when
 * `record` or a save throws (a log or disk failure), nothing more is saved: the logs may lack that step, so the run
 * resumes from its last checkpoint. Returns where the loop ended.
 */
export async function runSteps<R>(o: LoopOptions, start: number, step: (i: number) => Promise<R>, record: (done: number, r: R) => Verdict | Promise<Verdict>): Promise<LoopEnd> {
  const now = o.now ?? (() => performance.now());
  for (const log of o.logs) log.truncateTo(start);
  let interrupted = false;
  const onSigint = () => {
    interrupted = true;
    process.stderr.write(`\n${o.interruptMessage ?? 'interrupt: finishing this step, then saving a checkpoint'} (Ctrl-C again to abort)\n`);
    process.off('SIGINT', onSigint);
  };
  process.on('SIGINT', onSigint);
  let done = start;
  let saved = start;
  let savedAt = now();
  const checkpoint = async () => {
    await o.save(path.join(o.out, 'checkpoints', checkpointName(done)), done);
    pruneCheckpoints(o.out);
    saved = done;
    savedAt = now();
  };
  let phase: 'step' | 'record' | 'save' = 'step';
  try {
    const stopAt = Math.min(o.total, o.stopAt ?? o.total);
    while (done < stopAt && !interrupted) {
      phase = 'step';
      const r = await step(done);
      done++;
      phase = 'record';
      const verdict = await record(done, r);
      const stop = verdict instanceof Error ? verdict : undefined;
      if (verdict === 'stop') interrupted = true; // a clean stop: the checkpoint below, then return
      phase = 'save';
      if (stop || checkpointDue(o, done, now() - savedAt)) await checkpoint();
      if (stop) throw stop;
    }
  } catch (e) {
    if (phase === 'step' && done > saved) await saveAfterFailure(checkpoint);
    throw e;
  } finally {
    process.off('SIGINT', onSigint);
  }
  if (done > saved) await checkpoint();
  return { step: done, interrupted };
}

/** The failure that stopped the run is what the user must see; a checkpoint that fails too is only mentioned. */
async function saveAfterFailure(checkpoint: () => Promise<void>): Promise<void> {
  try {
    await checkpoint();
  } catch (e) {
    if (!(e instanceof SelfplayError)) throw e;
    process.stderr.write(`could not checkpoint after the failure below either: ${e.message}\n`);
  }
}
