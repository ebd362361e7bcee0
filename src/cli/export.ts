/** `selfplay export`: an HF model folder -> one GGUF file for llama.cpp / Ollama (tokenizer included when present). */
import * as path from 'node:path';
import { InputError } from '../errors.ts';
import { loadModelConfig } from '../model/config.ts';
import { loadModelWeights } from '../model/folder.ts';
import { ggufArchitecture, writeGguf, type GgufSummary } from '../model/gguf.ts';

export interface ExportOptions {
  /** HF-format model folder (config.json, model.safetensors, optional tokenizer files). */
  model: string;
  /** Output .gguf path; written atomically. */
  gguf: string;
  /** Storage of 2-D weights (default f16, as llama.cpp's converter; norms and biases stay f32). */
  dtype?: string;
}

export function exportCommand(opts: ExportOptions): GgufSummary {
  const dtype = opts.dtype ?? 'f16';
  if (dtype !== 'f16' && dtype !== 'f32') throw new InputError(`--dtype: expected f16 or f32, got "${dtype}"`);
  const cfg = loadModelConfig(opts.model);
  ggufArchitecture(cfg, path.join(opts.model, 'config.json')); // fail before reading the weights
  const { weights } = loadModelWeights(opts.model, cfg);
  const name = path.basename(path.resolve(opts.model));
  return writeGguf(opts.gguf, { cfg, weights, tokenizerDir: opts.model, dtype, name });
}
