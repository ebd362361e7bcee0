/**
 * A chat model: an HF folder loaded with its tokenizer, answering user turns through its chat template.
 * The one place where text prompts become token ids and sampled ids become text, for every role of the game.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ModelFormatError } from '../errors.ts';
import { ModelEngine } from '../model/engine.ts';
import { loadModelFolder, type ModelFolder } from '../model/modelfolder.ts';
import type { Tokenizer } from '../model/tokenizer.ts';
import type { Runtime } from '../runtime/runtime.ts';
import { type Generation, Generator } from './generator.ts';

export interface Sampling {
  temperature: number;
  topP: number;
  topK: number;
  maxTokens: number;
}

export interface Completion {
  text: string;
  /** The rendered prompt's token ids. */
  promptIds: number[];
  /** Sampled ids, the end-of-turn token included when the model produced it. */
  tokens: number[];
  /** The sampler's log-prob of each sampled token (temperature 1). */
  logprobs: number[];
  finishReason: 'eos' | 'stop' | 'length';
}

/** Sampling of one batch of prompts (token ids): the sampling settings, the batch's seed, the ids that end a row. */
export type SampleIds = (prompts: number[][], o: Sampling & { seed: number; stop: number[] }) => Promise<Generation[]>;

/** What the game needs of a model: completions of user turns. */
export type Completer = Pick<ChatModel, 'complete'>;

export interface ChatLoadOptions {
  /** A Jinja chat template file used instead of the folder's own (`--chat-template FILE`). */
  chatTemplateFile?: string;
  /** Default true: a folder without a chat template is refused at load. */
  needsChatTemplate?: boolean;
  /** Tokenizer, chat template and config only, no weights: a model that renders prompts and decodes samples another engine draws (a training service's). */
  textOnly?: boolean;
}

export class ChatModel {
  readonly generator: Generator;

  constructor(
    readonly folder: ModelFolder,
    readonly engine: ModelEngine,
    readonly tokenizer: Tokenizer,
  ) {
    this.generator = new Generator(engine);
  }

  /**
   * Loads `dir`; it must have a tokenizer, and a chat template (its own, or `opts.chatTemplateFile`) unless
   * `opts.needsChatTemplate` is false (plain-text generation). Both are checked before the weights are read.
   */
  static load(dir: string, runtime: Runtime, id = dir, opts: ChatLoadOptions = {}): ChatModel {
    if (!fs.existsSync(path.join(dir, 'tokenizer.json'))) {
      throw new ModelFormatError(`${path.join(dir, 'tokenizer.json')}: missing; a chat model needs its tokenizer`);
    }
    const beforeWeights = (tok: Tokenizer) => {
      if (opts.needsChatTemplate !== false) tok.requireChatTemplate();
    };
    const folder = loadModelFolder(dir, { chatTemplateFile: opts.chatTemplateFile, beforeWeights, skipWeights: opts.textOnly });
    return new ChatModel(folder, new ModelEngine(folder.cfg, folder.weights, runtime, id), folder.tokenizer!);
  }

  get eosIds(): number[] {
    const fromGen = this.folder.generationConfig?.eos_token_id;
    const ids = Array.isArray(fromGen) ? fromGen : typeof fromGen === 'number' ? [fromGen] : [];
    return [...new Set([...this.tokenizer.eosIds, ...ids, ...this.engine.cfg.eosTokenIds])];
  }

  /** The token ids the model sees before answering `userText` (the template writes any BOS itself). */
  promptIds(userText: string): number[] {
    const text = this.tokenizer.applyChatTemplate([{ role: 'user', content: userText }], { addGenerationPrompt: true });
    return this.tokenizer.encode(text, { addSpecialTokens: false });
  }

  /** Text of sampled ids without the end-of-turn token. */
  textOf(tokens: readonly number[]): string {
    const eos = new Set(this.eosIds);
    return this.tokenizer.decode(tokens.filter((t) => !eos.has(t)), { skipSpecialTokens: true });
  }

  /** One completion per user turn, sampled in batches of `batchSize` (a shared prompt prefix is prefilled once). */
  complete(userTexts: readonly string[], s: Sampling, seed: number, batchSize = 64): Promise<Completion[]> {
    const sample: SampleIds = (prompts, o) =>
      this.generator.generate(prompts, {
        temperature: o.temperature,
        topP: o.topP,
        topK: o.topK,
        maxNewTokens: o.maxTokens,
        seed: o.seed,
        eosIds: o.stop,
        sampleableVocab: this.tokenizer.vocabSize, // padded embedding rows have no token
      });
    return this.completeWith(sample, userTexts, s, seed, batchSize);
  }

  /**
   * The same, with the token ids sampled by `sample` (another engine, e.g. a training backend's current policy):
   * this model only renders prompts and decodes. Batch i of `batchSize` rows samples with seed `seed + i`.
   */
  async completeWith(sample: SampleIds, userTexts: readonly string[], s: Sampling, seed: number, batchSize = 64): Promise<Completion[]> {
    const out: Completion[] = [];
    for (let i = 0; i < userTexts.length; i += batchSize) {
      const prompts = userTexts.slice(i, i + batchSize).map((t) => this.promptIds(t));
      const gens = await sample(prompts, { ...s, seed: seed + i, stop: this.eosIds });
      gens.forEach((g, j) => out.push({ text: this.textOf(g.tokens), promptIds: prompts[j], ...g }));
    }
    return out;
  }
}
