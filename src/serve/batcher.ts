/**
 * Batches concurrent requests: requests that arrive within `windowMs` of each other (or while a batch is running)
 * and sample with the same settings run as one batch, up to `maxRows` rows. One batch runs at a time (the model
 * already uses every core). A request with an explicit seed and temperature > 0 runs alone, so that the same
 * request with the same seed always gets the same answer (rows of one batch share the sampler's random stream).
 * `abort` (at shutdown) refuses new and pending jobs and signals the running batch to stop at its next token.
 */
import { randomInt } from 'node:crypto';
import type { Generation } from '../generate/generator.ts';

/** What a batch shares. */
export interface BatchParams {
  temperature: number;
  topP: number;
  maxNewTokens: number;
  /** Undefined: the batcher draws one. */
  seed?: number;
  stop: readonly string[];
}

/** Runs one batch: every prompt row with the same params and seed; stops (rejects) once `signal` is aborted. */
export type RunBatch = (prompts: number[][], params: BatchParams & { seed: number }, signal: AbortSignal) => Promise<Generation[]>;

interface Job {
  key: string;
  prompt: number[];
  n: number;
  params: BatchParams;
  resolve: (gens: Generation[]) => void;
  reject: (e: unknown) => void;
}

export interface BatcherOptions {
  /** How long the first request of a batch waits for company (default 5 ms). */
  windowMs?: number;
  /** Most rows (prompts x n) in one batch (default 32). */
  maxRows?: number;
}

/** How many batch sizes `batchRows` keeps. */
export const RECENT_BATCHES = 1000;

export class Batcher {
  private pending: Job[] = [];
  private draining = false;
  private solo = 0;
  private readonly stopper = new AbortController();
  private drained: Promise<void> = Promise.resolve();
  /** Rows of each of the last RECENT_BATCHES batches (for logs and tests; bounded, a server runs for weeks). */
  readonly batchRows: number[] = [];

  constructor(private readonly run: RunBatch, private readonly opts: BatcherOptions = {}) {}

  /** `n` generations of `prompt`, resolved when its batch has run. */
  submit(prompt: number[], n: number, params: BatchParams): Promise<Generation[]> {
    const seeded = params.seed !== undefined && params.temperature > 0;
    const key = seeded ? `solo-${this.solo++}` : JSON.stringify([params.temperature, params.topP, params.maxNewTokens, params.stop]);
    if (this.stopper.signal.aborted) return Promise.reject(this.stopper.signal.reason);
    return new Promise((resolve, reject) => {
      this.pending.push({ key, prompt, n, params, resolve, reject });
      if (!this.draining) {
        this.draining = true;
        this.drained = new Promise((done) => setTimeout(() => void this.drain().then(done), this.opts.windowMs ?? 5));
      }
    });
  }

  /** Refuses new jobs, rejects pending ones with `reason`, and stops the running batch; resolves when it has stopped. */
  abort(reason: Error): Promise<void> {
    this.stopper.abort(reason);
    for (const job of this.pending.splice(0)) job.reject(reason);
    return this.drained;
  }

  /** Resolves when no batch is running or waiting. */
  idle(): Promise<void> {
    return this.drained;
  }

  /** Runs batches until nothing is pending; requests arriving meanwhile join later batches. */
  private async drain(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.takeBatch();
      const rows = batch.flatMap((job) => new Array<number[]>(job.n).fill(job.prompt));
      this.batchRows.push(rows.length);
      if (this.batchRows.length > RECENT_BATCHES) this.batchRows.splice(0, this.batchRows.length - RECENT_BATCHES);
      try {
        const seed = batch[0].params.seed ?? randomInt(2 ** 31);
        const gens = await this.run(rows, { ...batch[0].params, seed }, this.stopper.signal);
        let offset = 0;
        for (const job of batch) {
          job.resolve(gens.slice(offset, offset + job.n));
          offset += job.n;
        }
      } catch (e) {
        for (const job of batch) job.reject(e);
      }
    }
    this.draining = false;
  }

  /** The oldest pending job and every later one with its key, up to maxRows rows (the first job always fits). */
  private takeBatch(): Job[] {
    const maxRows = this.opts.maxRows ?? 32;
    const key = this.pending[0].key;
    const batch: Job[] = [];
    let rows = 0;
    this.pending = this.pending.filter((job) => {
      if (job.key !== key || (batch.length > 0 && rows + job.n > maxRows)) return true;
      batch.push(job);
      rows += job.n;
      return false;
    });
    return batch;
  }
}
