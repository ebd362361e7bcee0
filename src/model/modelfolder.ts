/**
 * One call to load everything an HF model folder holds: config, f32 weights, tokenizer (when tokenizer.json is
 * there) and generation_config.json (when present).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ModelFormatError } from '../errors.ts';
import { loadModelConfig, type LlamaConfig } from './config.ts';
import { loadModelWeights } from './folder.ts';
import { checkChatTemplateAvailable, loadTokenizer, type Tokenizer } from './tokenizer.ts';

export interface ModelFolder {
  dir: string;
  cfg: LlamaConfig;
  /** config.json as written, to save back with its extra fields intact. */
  rawConfig: Record<string, unknown>;
  /** Parameters by HF name, f32, in declaration order. */
  weights: Map<string, Float32Array>;
  /** Tensors in the files that are not parameters (e.g. rotary inv_freq), skipped. */
  ignored: string[];
  tokenizer?: Tokenizer;
  generationConfig?: Record<string, unknown>;
}

function readJsonObject(file: string): Record<string, unknown> {
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ModelFormatError(`${file}: cannot read as JSON (${(e as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new ModelFormatError(`${file}: not a JSON object`);
  return json as Record<string, unknown>;
}

export interface LoadFolderOptions {
  /** A Jinja chat template file used instead of the folder's own (`--chat-template FILE`). */
  chatTemplateFile?: string;
  /** Checks on the tokenizer before the weights are read (e.g. that it has a chat template). */
  beforeWeights?: (tokenizer: Tokenizer) => void;
  /** Read no weights (`weights` stays empty): the folder only renders and decodes text, its weights live elsewhere. */
  skipWeights?: boolean;
}

function vocabTooSmall(dir: string, cfg: LlamaConfig, tokenizerIds: number): ModelFormatError {
  return new ModelFormatError(
    `${path.join(dir, 'config.json')}: vocab_size ${cfg.vocabSize} is smaller than the tokenizer's ${tokenizerIds} ids ` +
      `(${path.join(dir, 'tokenizer.json')}); the embedding needs a row for every token id`,
  );
}

/** The tokenizer, checked against the embedding before any weight is read (a mismatch fails fast). */
function loadCheckedTokenizer(dir: string, cfg: LlamaConfig, opts: LoadFolderOptions): Tokenizer {
  const tokenizer = loadTokenizer(dir, { chatTemplateFile: opts.chatTemplateFile });
  if (tokenizer.vocabSize > cfg.vocabSize) throw vocabTooSmall(dir, cfg, tokenizer.vocabSize);
  return tokenizer;
}

/** One more than the largest id in tokenizer.json (model vocabulary and added tokens), read as plain JSON. */
function tokenizerIdCount(file: string): number {
  const json = readJsonObject(file) as { model?: { vocab?: unknown }; added_tokens?: { id?: unknown }[] };
  const vocab = json.model?.vocab;
  let count = Array.isArray(vocab) ? vocab.length : 0; // Unigram: [[piece, score], ...], ids are positions
  if (vocab && !Array.isArray(vocab) && typeof vocab === 'object') {
    for (const id of Object.values(vocab)) if (typeof id === 'number' && id + 1 > count) count = id + 1;
  }
  for (const t of json.added_tokens ?? []) if (typeof t.id === 'number' && t.id + 1 > count) count = t.id + 1;
  return count;
}

/**
 * What a chat command checks before it claims a run folder or reads any weight, without building anything: config.json
 * parses, tokenizer.json exists and fits vocab_size, and a chat template is there (or given). Same errors as the load.
 */
export function preflightChatFolder(dir: string, chatTemplateFile?: string): void {
  const cfg = loadModelConfig(dir);
  const tokFile = path.join(dir, 'tokenizer.json');
  if (!fs.existsSync(tokFile)) throw new ModelFormatError(`${path.join(dir, 'tokenizer.json')}: missing; a chat model needs its tokenizer`);
  const ids = tokenizerIdCount(tokFile);
  if (ids > cfg.vocabSize) throw vocabTooSmall(dir, cfg, ids);
  checkChatTemplateAvailable(dir, chatTemplateFile);
}

/**
 * Loads `dir`: config.json (validated), the tokenizer if tokenizer.json exists (its largest id must fit the
 * embedding), the weights (checked against the config), and generation_config.json if present.
 */
export function loadModelFolder(dir: string, opts: LoadFolderOptions = {}): ModelFolder {
  const cfg = loadModelConfig(dir);
  const rawConfig = readJsonObject(path.join(dir, 'config.json'));
  const hasTokenizer = fs.existsSync(path.join(dir, 'tokenizer.json'));
  const tokenizer = hasTokenizer ? loadCheckedTokenizer(dir, cfg, opts) : undefined;
  if (tokenizer) opts.beforeWeights?.(tokenizer);
  const { weights, ignored } = opts.skipWeights ? { weights: new Map<string, Float32Array>(), ignored: [] } : loadModelWeights(dir, cfg);
  const folder: ModelFolder = { dir, cfg, rawConfig, weights, ignored };
  if (tokenizer) folder.tokenizer = tokenizer;
  const genFile = path.join(dir, 'generation_config.json');
  if (fs.existsSync(genFile)) folder.generationConfig = readJsonObject(genFile);
  return folder;
}
