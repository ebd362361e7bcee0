/**
 * One call to load everything an HF model folder holds: config, f32 weights, tokenizer (when tokenizer.json is
 * there) and generation_config.json (when present).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ModelFormatError } from '../errors.ts';
import { loadModelConfig, type LlamaConfig } from './config.ts';
import { loadModelWeights } from './folder.ts';
import { loadTokenizer, type Tokenizer } from './tokenizer.ts';

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
}

/** The tokenizer, checked against the embedding before any weight is read (a mismatch fails fast). */
function loadCheckedTokenizer(dir: string, cfg: LlamaConfig, opts: LoadFolderOptions): Tokenizer {
  const tokenizer = loadTokenizer(dir, { chatTemplateFile: opts.chatTemplateFile });
  if (tokenizer.vocabSize > cfg.vocabSize) {
    throw new ModelFormatError(
      `${path.join(dir, 'config.json')}: vocab_size ${cfg.vocabSize} is smaller than the tokenizer's ${tokenizer.vocabSize} ids ` +
        `(${path.join(dir, 'tokenizer.json')}); the embedding needs a row for every token id`,
    );
  }
  return tokenizer;
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
  const { weights, ignored } = loadModelWeights(dir, cfg);
  const folder: ModelFolder = { dir, cfg, rawConfig, weights, ignored };
  if (tokenizer) folder.tokenizer = tokenizer;
  const genFile = path.join(dir, 'generation_config.json');
  if (fs.existsSync(genFile)) folder.generationConfig = readJsonObject(genFile);
  return folder;
}
