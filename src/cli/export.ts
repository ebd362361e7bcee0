/**
 * `selfplay export`: an HF model folder -> one GGUF file for llama.cpp / Ollama (tokenizer included when present).
 * A LoRA adapter (PEFT layout) in the folder, or given with --adapter, is merged into the weights first.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InputError } from '../errors.ts';
import { loadModelConfig, type LlamaConfig } from '../model/config.ts';
import { loadModelWeights } from '../model/folder.ts';
import { ggufArchitecture, writeGguf, type GgufSummary } from '../model/gguf.ts';
import { loadLoraAdapter, mergeLora } from '../model/lora.ts';

export interface ExportOptions {
  /** HF-format model folder (config.json, model.safetensors, optional tokenizer files). */
  model: string;
  /** Output .gguf path; written atomically. */
  gguf: string;
  /** Storage of 2-D weights (default f16, as llama.cpp's converter; norms and biases stay f32). */
  dtype?: string;
  /** PEFT adapter folder to merge (default: the model folder itself when it has adapter_config.json). */
  adapter?: string;
}

export interface ExportResult extends GgufSummary {
  /** The adapter folder that was merged, if any. */
  mergedAdapter?: string;
}

export function exportCommand(opts: ExportOptions): ExportResult {
  const dtype = opts.dtype ?? 'f16';
  if (dtype !== 'f16' && dtype !== 'f32') throw new InputError(`--dtype: expected f16 or f32, got "${dtype}"`);
  const adapterDir = opts.adapter ?? (fs.existsSync(path.join(opts.model, 'adapter_config.json')) ? opts.model : undefined);
  if (opts.adapter !== undefined && !fs.existsSync(path.join(opts.adapter, 'adapter_config.json'))) {
    throw new InputError(`--adapter: ${path.join(opts.adapter, 'adapter_config.json')} not found`);
  }
  checkOutput(opts.gguf);
  const cfg = loadModelConfig(opts.model);
  ggufArchitecture(cfg, path.join(opts.model, 'config.json')); // fail before reading the weights
  const { weights } = loadModelWeights(opts.model, cfg);
  const merged = adapterDir === undefined ? weights : withAdapterMerged(cfg, weights, adapterDir);
  const name = path.basename(path.resolve(opts.model));
  const summary = writeGguf(opts.gguf, { cfg, weights: merged, tokenizerDir: opts.model, dtype, name });
  return adapterDir === undefined ? summary : { ...summary, mergedAdapter: adapterDir };
}

/** The output may be new or an earlier GGUF; never a folder or another file (e.g. the model's own weights). */
function checkOutput(file: string): void {
  if (!fs.existsSync(file)) return;
  if (fs.statSync(file).isDirectory()) throw new InputError(`--gguf ${file} is a folder; give a file name ending in .gguf`);
  if (!file.toLowerCase().endsWith('.gguf')) throw new InputError(`--gguf ${file}: the file exists and is not a .gguf file; nothing was written (choose a new file name)`);
}

/** Base weights + (alpha / r) B A for every adapter in `adapterDir`. */
function withAdapterMerged(cfg: LlamaConfig, base: Map<string, Float32Array>, adapterDir: string): Map<string, Float32Array> {
  const { lora, weights: adapters } = loadLoraAdapter(adapterDir, cfg);
  return mergeLora(cfg, lora, new Map([...base, ...adapters]));
}
