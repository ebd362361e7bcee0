/**
 * `selfplay generate`: sample completions of one prompt from an HF model folder; the command prints their text only.
 * Sampling settings: the command line first, then generation_config.json, then the fallbacks below.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InputError, ModelFormatError } from '../errors.ts';
import { ChatModel } from '../generate/chat.ts';
import { checkSamplingParams } from '../generate/sampler.ts';
import { Runtime } from '../runtime/runtime.ts';

export interface GenerateCommandOptions {
  /** HF-format model folder with its tokenizer. */
  model: string;
  prompt: string;
  /** Render the prompt as one user turn through the chat template, with the assistant's generation prompt. */
  chat?: boolean;
  /** With `chat`: a Jinja chat template file used instead of the folder's own. */
  chatTemplate?: string;
  /** Completions to sample (one batch; default 1). */
  n?: number;
  temperature?: number;
  topP?: number;
  topK?: number;
  maxTokens?: number;
  /** Default 0: the same command prints the same bytes. */
  seed?: number;
  threads?: number;
}

interface Settings {
  temperature: number;
  topP: number;
  topK: number;
  maxTokens: number;
}

/** Used when neither the command line nor generation_config.json sets a value. */
const FALLBACK: Settings = { temperature: 1, topP: 1, topK: 0, maxTokens: 128 };

/**
 * What generation_config.json sets: temperature / top_p / top_k / max_new_tokens, and `do_sample: false`
 * (HF's greedy decoding) as temperature 0. A field of the wrong type is an error naming the file and field.
 */
export function generationDefaults(gen: Record<string, unknown> | undefined, file: string): Partial<Settings> {
  if (!gen) return {};
  const field = (name: string, ok: (v: number) => boolean, want: string): number | undefined => {
    const v = gen[name];
    if (v == null) return undefined;
    if (typeof v !== 'number' || !ok(v)) throw new ModelFormatError(`${file}: field \`${name}\`: must be ${want}, got ${JSON.stringify(v)}`);
    return v;
  };
  return {
    temperature: gen.do_sample === false ? 0 : field('temperature', (v) => v >= 0, 'a number >= 0'),
    topP: field('top_p', (v) => v > 0 && v <= 1, 'a number in (0, 1]'),
    topK: field('top_k', (v) => Number.isInteger(v) && v >= 0, 'an integer >= 0'),
    maxTokens: field('max_new_tokens', (v) => Number.isInteger(v) && v > 0, 'a positive integer'),
  };
}

/** Loads the folder, samples `n` completions of the prompt, returns their texts (end-of-turn tokens removed). */
export async function generateCommand(opts: GenerateCommandOptions): Promise<string[]> {
  if (!fs.existsSync(opts.model) || !fs.statSync(opts.model).isDirectory()) throw new InputError(`--model: ${opts.model}: no such folder`);
  const runtime = new Runtime({ threads: opts.threads });
  try {
    const model = ChatModel.load(opts.model, runtime, opts.model, { chatTemplateFile: opts.chatTemplate, needsChatTemplate: Boolean(opts.chat) });
    const fromFile = generationDefaults(model.folder.generationConfig, path.join(opts.model, 'generation_config.json'));
    const s: Settings = {
      temperature: opts.temperature ?? fromFile.temperature ?? FALLBACK.temperature,
      topP: opts.topP ?? fromFile.topP ?? FALLBACK.topP,
      topK: opts.topK ?? fromFile.topK ?? FALLBACK.topK,
      maxTokens: opts.maxTokens ?? fromFile.maxTokens ?? FALLBACK.maxTokens,
    };
    checkSamplingParams(s);
    const prompt = promptIds(model, opts);
    const limit = model.engine.cfg.maxPositionEmbeddings;
    if (prompt.length + s.maxTokens > limit) {
      throw new InputError(`--max-tokens: prompt (${prompt.length} tokens) + ${s.maxTokens} new tokens exceed the model's ${limit} positions`);
    }
    const gens = await model.generator.generate(new Array(opts.n ?? 1).fill(prompt), {
      ...s,
      maxNewTokens: s.maxTokens,
      seed: opts.seed ?? 0,
      eosIds: model.eosIds,
      sampleableVocab: model.tokenizer.vocabSize,
    });
    return gens.map((g) => model.textOf(g.tokens));
  } finally {
    await runtime.release();
  }
}

/** The prompt's ids: plain text with the tokenizer's own special tokens, or a rendered chat (which carries its own). */
function promptIds(model: ChatModel, opts: GenerateCommandOptions): number[] {
  const { tokenizer } = model;
  const ids = opts.chat
    ? tokenizer.encode(tokenizer.applyChatTemplate([{ role: 'user', content: opts.prompt }], { addGenerationPrompt: true }), { addSpecialTokens: false })
    : tokenizer.encode(opts.prompt);
  if (ids.length === 0) throw new InputError('--prompt: the prompt encodes to no tokens (give some text, or use --chat)');
  return ids;
}
