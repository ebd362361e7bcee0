/**
 * LoRA (Hu et al. 2021): a target weight W [out, in] is used as W + (alpha / r) * B A with A [r, in] and
 * B [out, r] trainable and W frozen. In the graph the low-rank product is merged into the weight (one small
 * GEMM per target), so every model graph works unchanged. Adapters are saved in the PEFT layout.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { InputError, ModelFormatError } from '../errors.ts';
import { writeJsonAtomic } from '../util/fs.ts';
import { Rng } from '../util/rng.ts';
import type { LlamaConfig } from './config.ts';
import { expectedParamShapes } from './config.ts';
import { readSafetensors, writeSafetensors } from './safetensors.ts';

export const LORA_TARGETS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;
export type LoraTarget = (typeof LORA_TARGETS)[number];

export const loraConfigSchema = z.object({
  rank: z.number().int().positive().describe('rank r of the update B A'),
  alpha: z.number().positive().describe('scale numerator: the update is multiplied by alpha / r'),
  targets: z.array(z.enum(LORA_TARGETS)).min(1).describe('projection modules that get adapters'),
});
export type LoraConfig = z.infer<typeof loraConfigSchema>;

/** PEFT keys carry this prefix in adapter_model.safetensors. */
const PEFT_PREFIX = 'base_model.model.';

export const loraScale = (lora: LoraConfig) => lora.alpha / lora.rank;

/** The base weight names that get adapters, with their [out, in] shapes. */
export function loraTargetWeights(cfg: LlamaConfig, lora: LoraConfig): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const [name, shape] of expectedParamShapes(cfg)) {
    const module = name.split('.').at(-2) as LoraTarget;
    if (name.endsWith('.weight') && shape.length === 2 && lora.targets.includes(module) && name.startsWith('model.layers.')) {
      out.set(name, shape);
    }
  }
  return out;
}

/** Adapter tensor names for a base weight name: `<module>.lora_A.weight`, `<module>.lora_B.weight`. */
export function adapterNames(weightName: string): { a: string; b: string } {
  const module = weightName.slice(0, -'.weight'.length);
  return { a: `${module}.lora_A.weight`, b: `${module}.lora_B.weight` };
}

/** Shapes of every adapter tensor. */
export function loraShapes(cfg: LlamaConfig, lora: LoraConfig): Map<string, number[]> {
  const shapes = new Map<string, number[]>();
  for (const [name, [out, inp]] of loraTargetWeights(cfg, lora)) {
    const { a, b } = adapterNames(name);
    shapes.set(a, [lora.rank, inp]);
    shapes.set(b, [out, lora.rank]);
  }
  return shapes;
}

/** PEFT's initialisation: A ~ U(-1/sqrt(in), 1/sqrt(in)) (kaiming-uniform, a = sqrt 5), B = 0, so W is unchanged. */
export function initLora(cfg: LlamaConfig, lora: LoraConfig, seed: number): Map<string, Float32Array> {
  const rng = new Rng(seed);
  const out = new Map<string, Float32Array>();
  for (const [name, shape] of loraShapes(cfg, lora)) {
    const data = new Float32Array(shape[0] * shape[1]);
    if (name.includes('lora_A')) {
      const bound = 1 / Math.sqrt(shape[1]);
      for (let i = 0; i < data.length; i++) data[i] = (2 * rng.next() - 1) * bound;
    }
    out.set(name, data);
  }
  return out;
}

/** Base weights with every adapter merged in: W + (alpha / r) B A (naive float64 accumulation). */
export function mergeLora(cfg: LlamaConfig, lora: LoraConfig, weights: Map<string, Float32Array>): Map<string, Float32Array> {
  const merged = new Map<string, Float32Array>();
  for (const name of expectedParamShapes(cfg).keys()) merged.set(name, Float32Array.from(weights.get(name)!));
  const s = loraScale(lora);
  for (const [name, [outDim, inDim]] of loraTargetWeights(cfg, lora)) {
    const { a, b } = adapterNames(name);
    const A = weights.get(a)!;
    const Bm = weights.get(b)!;
    const W = merged.get(name)!;
    for (let o = 0; o < outDim; o++) {
      for (let i = 0; i < inDim; i++) {
        let acc = 0;
        for (let k = 0; k < lora.rank; k++) acc += Bm[o * lora.rank + k] * A[k * inDim + i];
        W[o * inDim + i] += s * acc;
      }
    }
  }
  return merged;
}

/** Writes adapter_config.json + adapter_model.safetensors (PEFT layout), each atomically. */
export function saveLoraAdapter(dir: string, lora: LoraConfig, weights: Map<string, Float32Array>, cfg: LlamaConfig, base = ''): void {
  fs.mkdirSync(dir, { recursive: true });
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, shape] of loraShapes(cfg, lora)) tensors.set(PEFT_PREFIX + name, { shape, data: weights.get(name)! });
  writeSafetensors(path.join(dir, 'adapter_model.safetensors'), tensors);
  const config = {
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    r: lora.rank,
    lora_alpha: lora.alpha,
    lora_dropout: 0,
    bias: 'none',
    target_modules: lora.targets,
    base_model_name_or_path: base,
  };
  writeJsonAtomic(path.join(dir, 'adapter_config.json'), config);
}

/** Reads a PEFT LoRA adapter folder; errors name the file and the field or tensor. */
export function loadLoraAdapter(dir: string, cfg: LlamaConfig): { lora: LoraConfig; weights: Map<string, Float32Array> } {
  const file = path.join(dir, 'adapter_config.json');
  let raw: { r?: unknown; lora_alpha?: unknown; target_modules?: unknown; peft_type?: unknown };
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ModelFormatError(`${file}: cannot read adapter config (${(e as Error).message})`);
  }
  if (raw.peft_type !== 'LORA') throw new ModelFormatError(`${file}: peft_type must be "LORA", got ${JSON.stringify(raw.peft_type)}`);
  const parsed = loraConfigSchema.safeParse({ rank: raw.r, alpha: raw.lora_alpha, targets: raw.target_modules });
  if (!parsed.success) {
    const field: Record<string, string> = { rank: 'r', alpha: 'lora_alpha', targets: 'target_modules' };
    const issues = parsed.error.issues.map((i) => `${field[String(i.path[0])] ?? i.path.join('.')}: ${i.message}`);
    throw new ModelFormatError(`${file}: ${issues.join('; ')}`);
  }
  const lora = parsed.data;
  const tensorFile = path.join(dir, 'adapter_model.safetensors');
  const stored = readSafetensors(tensorFile).tensors;
  const weights = new Map<string, Float32Array>();
  for (const [name, shape] of loraShapes(cfg, lora)) {
    const t = stored.get(PEFT_PREFIX + name);
    if (!t) throw new ModelFormatError(`${tensorFile}: missing adapter tensor ${PEFT_PREFIX + name}`);
    if (t.shape.join(',') !== shape.join(',')) {
      throw new ModelFormatError(`${tensorFile}: ${PEFT_PREFIX + name} has shape [${t.shape}], expected [${shape}]`);
    }
    weights.set(name, t.data as Float32Array);
  }
  return { lora, weights };
}

export function checkLoraTargets(targets: string[]): LoraTarget[] {
  for (const t of targets) {
    if (!(LORA_TARGETS as readonly string[]).includes(t)) throw new InputError(`LoRA target "${t}" is not one of ${LORA_TARGETS.join(', ')}`);
  }
  return targets as LoraTarget[];
}
