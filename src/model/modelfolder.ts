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

/**
 * Loads `dir`: config.json (validated), the weights (checked against the config), the tokenizer if tokenizer.json
 * exists (its largest id must fit the embedding), and generation_config.json if present.
 */
export function loadModelFolder(dir: string): ModelFolder {
  const cfg = loadModelConfig(dir);
  const rawConfig = readJsonObject(path.join(dir, 'config.json'));
  const { weights, ignored } = loadModelWeights(dir, cfg);
  const folder: ModelFolder = { dir, cfg, rawConfig, weights, ignored };
  if (fs.existsSync(path.join(dir, 'tokenizer.json'))) {
    const tokenizer = loadTokenizer(dir);
    if (tokenizer.vocabSize > cfg.vocabSize) {
      throw new ModelFormatError(
        `${path.join(dir, 'tokenizer.json')}: ${tokenizer.vocabSize} token ids do not fit vocab_size ${cfg.vocabSize} of config.json`,
      );
    }
    folder.tokenizer = tokenizer;
  }
  const genFile = path.join(dir, 'generation_config.json');
  if (fs.existsSync(genFile)) folder.generationConfig = readJsonObject(genFile);
  return folder;
}
