/**
 * Runs the model graphs on host weights: pads a batch of token sequences into a shape bucket, feeds the
 * parameters, and unpads the results. One compiled session per (graph kind, B, T), cached by the Runtime.
 */
import { InputError } from '../errors.ts';
import type { CompiledGraph, HostTensor, Runtime } from '../runtime/runtime.ts';
import { expectedParamShapes, type LlamaConfig } from './config.ts';
import { type LoraConfig, loraShapes } from './lora.ts';
import { buildPrefixLogprobsGraph, buildPrefixTrainGraph, PREFIX_IDS } from './prefix-graph.ts';
import { ATTENTION_MASK, buildLogitsGraph, buildLogprobsGraph, buildTrainGraph, INPUT_IDS, type LossSpec } from './graphs.ts';

/** Sequence-length buckets are multiples of this, so nearby lengths share one compiled graph. */
export const T_BUCKET = 16;

export interface PaddedBatch {
  B: number;
  T: number;
  ids: BigInt64Array; // [B, T]
  mask: Float32Array; // [B, T]
  lengths: number[];
}

/**
 * Right-pads sequences (pad id 0, mask 0) to a common bucketed length, or to `minLength` rounded up to the bucket
 * when that is longer (micro-batches of one step padded alike share one compiled graph).
 */
export function padBatch(sequences: number[][], vocabSize: number, bucket = T_BUCKET, minLength = 0): PaddedBatch {
  if (sequences.length === 0) throw new InputError('batch: no sequences');
  const lengths = sequences.map((s) => s.length);
  const longest = Math.max(...lengths);
  if (longest < 2) throw new InputError('batch: every sequence is shorter than 2 tokens; nothing to predict');
  const T = Math.ceil(Math.max(longest, minLength) / bucket) * bucket;
  const B = sequences.length;
  const ids = new BigInt64Array(B * T);
  const mask = new Float32Array(B * T);
  sequences.forEach((seq, b) => {
    seq.forEach((id, t) => {
      if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
        throw new InputError(`sequence ${b}, position ${t}: token id ${id} is outside the vocabulary [0, ${vocabSize})`);
      }
      ids[b * T + t] = BigInt(id);
      mask[b * T + t] = 1;
    });
  });
  return { B, T, ids, mask, lengths };
}

/** A subset of parameters to train; `key` names the subset in the compiled-graph cache. */
export interface TrainableSelection {
  key: string;
  select: (name: string) => boolean;
}

export interface TrainStepResult {
  loss: number;
  /** Per-token log-probs [B][T-1] as computed in the step (row b, entry t predicts token t+1). */
  logprobs: Float32Array;
  grads: Map<string, Float32Array>;
}

export class ModelEngine {
  constructor(
    readonly cfg: LlamaConfig,
    /** The parameter store: one Float32Array per HF-named tensor. Updated in place by the optimizer. */
    readonly weights: Map<string, Float32Array>,
    readonly runtime: Runtime,
    /** Distinguishes sessions of different models sharing one Runtime. */
    readonly id = 'model',
    /** With LoRA, `weights` also holds the adapters, and only they train. */
    readonly lora?: LoraConfig,
  ) {}

  /** Cache-key part that separates graphs with and without adapters. */
  get graphTag(): string {
    return this.lora ? `${this.id}+lora${this.lora.rank}:${this.lora.targets.join(',')}` : this.id;
  }

  /** Feeds for every parameter (the arrays themselves: the sampler always sees the current weights). */
  paramFeeds(): Record<string, HostTensor> {
    const feeds: Record<string, HostTensor> = {};
    for (const [name, data] of this.weights) feeds[name] = { data, dims: this.shapeOf(name) };
    return feeds;
  }

  private feeds(batch: PaddedBatch): Record<string, HostTensor> {
    const feeds = this.paramFeeds();
    feeds[INPUT_IDS] = { data: batch.ids, dims: [batch.B, batch.T] };
    feeds[ATTENTION_MASK] = { data: batch.mask, dims: [batch.B, batch.T] };
    return feeds;
  }

  private shapes?: Map<string, number[]>;
  private shapeOf(name: string): number[] {
    this.shapes ??= new Map([...expectedParamShapes(this.cfg), ...(this.lora ? loraShapes(this.cfg, this.lora) : [])]);
    return this.shapes.get(name)!;
  }

  /** log p(token t | tokens < t) for every sequence; the first token of each gets null. `minLength`: see padBatch. */
  async logprobs(sequences: number[][], minLength = 0): Promise<(number | null)[][]> {
    const batch = padBatch(sequences, this.cfg.vocabSize, T_BUCKET, minLength);
    const key = `${this.graphTag}/logprobs/B${batch.B}/T${batch.T}`;
    const session = await this.runtime.compile(key, () => buildLogprobsGraph(this.cfg, batch.B, batch.T, this.lora).bytes);
    const { logprobs } = await session.run(this.feeds(batch));
    return batch.lengths.map((len, b) => {
      const row: (number | null)[] = [null];
      for (let t = 1; t < len; t++) row.push(logprobs.data[b * (batch.T - 1) + t - 1] as number);
      return row;
    });
  }

  /**
   * log p(token t | prefix, tokens < t) for sequences that all continue `prefix` (computed once): every entry is
   * defined, entry 0 being predicted by the prefix's last token.
   */
  async logprobsShared(prefix: number[], sequences: number[][], minLength = 0): Promise<number[][]> {
    const batch = padBatch(sequences, this.cfg.vocabSize, T_BUCKET, minLength);
    const P = prefix.length;
    const key = `${this.graphTag}/prefix-logprobs/P${P}/B${batch.B}/T${batch.T}`;
    const session = await this.runtime.compile(key, () => buildPrefixLogprobsGraph(this.cfg, P, batch.B, batch.T, this.lora).bytes);
    const feeds = this.feeds(batch);
    feeds[PREFIX_IDS] = { data: BigInt64Array.from(prefix.map(BigInt)), dims: [1, P] };
    const { logprobs } = await session.run(feeds);
    const data = logprobs.data as Float32Array;
    return batch.lengths.map((len, b) => Array.from(data.subarray(b * batch.T, b * batch.T + len)));
  }

  /** Logits [B, T, V] of a padded batch (rows beyond each length are padding). */
  async logits(sequences: number[][]): Promise<{ batch: PaddedBatch; logits: Float32Array }> {
    const batch = padBatch(sequences, this.cfg.vocabSize);
    const key = `${this.graphTag}/logits/B${batch.B}/T${batch.T}`;
    const session = await this.runtime.compile(key, () => buildLogitsGraph(this.cfg, batch.B, batch.T, this.lora).bytes);
    const { logits } = await session.run(this.feeds(batch));
    return { batch, logits: logits.data as Float32Array };
  }

  /**
   * Forward and backward of `loss` on a padded batch. `lossInputs` gives each extra input the loss declares
   * (per-token inputs are [B, T-1] for the batch's bucketed T). Full fine-tuning trains every parameter unless
   * `trainable` narrows it (its `key` must change when its selection does); with LoRA only the adapters train.
   */
  async trainStep(
    batch: PaddedBatch,
    loss: LossSpec,
    lossInputs: Record<string, HostTensor>,
    trainable?: TrainableSelection,
  ): Promise<TrainStepResult> {
    const key = `${this.graphTag}/train/${loss.name}/${trainable?.key ?? 'all'}/B${batch.B}/T${batch.T}`;
    const opts = { trainable: trainable?.select ?? (() => true), lora: this.lora };
    const session = await this.runtime.compile(key, () => buildTrainGraph(this.cfg, batch.B, batch.T, loss, opts).bytes);
    return this.runTrain(session, loss, this.feeds(batch), lossInputs);
  }

  /**
   * The same for rows that all continue one shared `prefix` (computed once per batch). The loss sees log-probs
   * [B, T] of the rows' own tokens (entry 0 is predicted by the prefix), so per-token loss inputs are [B, T].
   */
  async trainStepShared(
    prefix: number[],
    batch: PaddedBatch,
    loss: LossSpec,
    lossInputs: Record<string, HostTensor>,
    trainable?: TrainableSelection,
  ): Promise<TrainStepResult> {
    const P = prefix.length;
    const key = `${this.graphTag}/prefix-train/${loss.name}/${trainable?.key ?? 'all'}/P${P}/B${batch.B}/T${batch.T}`;
    const opts = { trainable: trainable?.select ?? (() => true), lora: this.lora };
    const session = await this.runtime.compile(key, () => buildPrefixTrainGraph(this.cfg, P, batch.B, batch.T, loss, opts).bytes);
    const feeds = this.feeds(batch);
    feeds[PREFIX_IDS] = { data: BigInt64Array.from(prefix.map(BigInt)), dims: [1, P] };
    return this.runTrain(session, loss, feeds, lossInputs);
  }

  private async runTrain(
    session: CompiledGraph,
    loss: LossSpec,
    feeds: Record<string, HostTensor>,
    lossInputs: Record<string, HostTensor>,
  ): Promise<TrainStepResult> {
    for (const name of session.inputNames) {
      if (feeds[name]) continue;
      const value = lossInputs[name];
      if (!value) throw new InputError(`loss ${loss.name}: missing input ${name}`);
      feeds[name] = value;
    }
    const out = await session.run(feeds);
    const grads = new Map<string, Float32Array>();
    for (const [name, value] of Object.entries(out)) {
      if (name.startsWith('grad.')) grads.set(name.slice(5), value.data as Float32Array);
    }
    return { loss: out.loss.data[0] as number, logprobs: out.logprobs.data as Float32Array, grads };
  }
}
