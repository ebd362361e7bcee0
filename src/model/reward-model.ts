/**
 * A reward model as users have them on disk (LlamaForSequenceClassification, e.g. Skywork-Reward-V2): each
 * (prompt, response) pair is rendered through the folder's chat template as a user turn and an assistant turn,
 * and the `score` head on the last token gives its reward.
 */
import * as path from 'node:path';
import { InputError, ModelFormatError } from '../errors.ts';
import type { Runtime } from '../runtime/runtime.ts';
import { ModelEngine, padBatch } from './engine.ts';
import { ATTENTION_MASK, INPUT_IDS } from './graphs.ts';
import { loadModelFolder, type ModelFolder } from './modelfolder.ts';
import { buildRewardGraph, LAST_INDEX } from './reward-graph.ts';
import type { Tokenizer } from './tokenizer.ts';

export interface RewardPair {
  prompt: string;
  response: string;
}

/** Sequences per forward pass; bounds memory. */
const MICRO_BATCH = 16;

export class RewardModel {
  readonly engine: ModelEngine;

  constructor(
    readonly folder: ModelFolder,
    readonly tokenizer: Tokenizer,
    runtime: Runtime,
    id = folder.dir,
  ) {
    this.engine = new ModelEngine(folder.cfg, folder.weights, runtime, id);
  }

  /** Loads `dir`; it must be a LlamaForSequenceClassification folder with a tokenizer and chat template. */
  static load(dir: string, runtime: Runtime, id = dir): RewardModel {
    const folder = loadModelFolder(dir);
    if (folder.cfg.architecture !== 'LlamaForSequenceClassification') {
      const file = path.join(dir, 'config.json');
      throw new ModelFormatError(`${file}: field \`architectures\`: a reward model must be LlamaForSequenceClassification, got ${folder.cfg.architecture}`);
    }
    if (!folder.tokenizer) throw new ModelFormatError(`${dir}: no tokenizer.json; a reward model needs its tokenizer`);
    return new RewardModel(folder, folder.tokenizer, runtime, id);
  }

  /** The token ids of a pair: [user: prompt, assistant: response] through the chat template, no generation prompt. */
  pairIds(pair: RewardPair): number[] {
    const messages = [
      { role: 'user', content: pair.prompt },
      { role: 'assistant', content: pair.response },
    ];
    const text = this.tokenizer.applyChatTemplate(messages, { addGenerationPrompt: false });
    return this.tokenizer.encode(text, { addSpecialTokens: false }); // the template carries its own special tokens
  }

  /** The reward of each pair: the first label's score. */
  async score(pairs: readonly RewardPair[]): Promise<number[]> {
    const scores = await this.scoreIds(pairs.map((p) => this.pairIds(p)));
    return scores.map((s) => s[0]);
  }

  /** Every label's score [L] for each token sequence, run in right-padded micro-batches. */
  async scoreIds(sequences: readonly number[][]): Promise<number[][]> {
    const limit = this.engine.cfg.maxPositionEmbeddings;
    sequences.forEach((s, i) => {
      if (s.length === 0) throw new InputError(`reward: sequence ${i} is empty`);
      if (s.length > limit) throw new InputError(`reward: sequence ${i} has ${s.length} tokens, more than the model's ${limit} positions`);
    });
    const out: number[][] = [];
    for (let i = 0; i < sequences.length; i += MICRO_BATCH) out.push(...(await this.scoreBatch(sequences.slice(i, i + MICRO_BATCH))));
    return out;
  }

  private async scoreBatch(sequences: number[][]): Promise<number[][]> {
    const { cfg, runtime } = this.engine;
    const batch = padBatch(sequences, cfg.vocabSize);
    const key = `${this.engine.graphTag}/reward/B${batch.B}/T${batch.T}`;
    const session = await runtime.compile(key, () => buildRewardGraph(cfg, batch.B, batch.T));
    const feeds = this.engine.paramFeeds();
    feeds[INPUT_IDS] = { data: batch.ids, dims: [batch.B, batch.T] };
    feeds[ATTENTION_MASK] = { data: batch.mask, dims: [batch.B, batch.T] };
    feeds[LAST_INDEX] = { data: BigInt64Array.from(batch.lengths.map((n) => BigInt(n - 1))), dims: [batch.B] };
    const scores_B_L = (await session.run(feeds)).scores.data as Float32Array;
    const L = cfg.numLabels;
    return batch.lengths.map((_, b) => [...scores_B_L.subarray(b * L, (b + 1) * L)]);
  }
}
