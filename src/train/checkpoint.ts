/**
 * Checkpoints: a folder with the model (HF layout: config.json + model.safetensors, tokenizer files copied), the
 * optimizer state (optimizer.safetensors: first and second moments) and state.json (step, RNG state, run info).
 * Written into a temporary folder and renamed into place, so a crash never leaves a half-written checkpoint.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ModelFormatError } from '../errors.ts';
import { readSafetensors, writeSafetensors } from '../model/safetensors.ts';
import type { AdamWState } from '../optim/adamw.ts';

export interface CheckpointState {
  step: number;
  rngState: number;
  /** Anything else the trainer needs to resume (phase, tokens seen, wall time...). */
  extra: Record<string, unknown>;
}

export interface CheckpointContents {
  /** The HF config.json object to write. */
  config: object;
  weights: Map<string, Float32Array>;
  shapes: Map<string, number[]>;
  optimizer: AdamWState;
  state: CheckpointState;
  /** Files copied verbatim into the folder (e.g. tokenizer.json), by destination name. */
  files?: Record<string, string>;
}

const writeJson = (file: string, value: unknown) => fs.writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);

/** Writes a checkpoint folder atomically (temp folder, then rename; an existing folder is replaced). */
export function saveCheckpoint(dir: string, c: CheckpointContents): void {
  const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
  fs.mkdirSync(tmp, { recursive: true });
  try {
    writeJson(path.join(tmp, 'config.json'), c.config);
    const tensors = new Map([...c.weights].map(([name, data]) => [name, { shape: c.shapes.get(name)!, data }]));
    writeSafetensors(path.join(tmp, 'model.safetensors'), tensors);
    const moments = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const [name, m] of c.optimizer.m) moments.set(`m.${name}`, { shape: [m.length], data: m });
    for (const [name, v] of c.optimizer.v) moments.set(`v.${name}`, { shape: [v.length], data: v });
    writeSafetensors(path.join(tmp, 'optimizer.safetensors'), moments);
    writeJson(path.join(tmp, 'state.json'), { ...c.state, optimizerStep: c.optimizer.step });
    for (const [name, src] of Object.entries(c.files ?? {})) fs.copyFileSync(src, path.join(tmp, name));
    const old = `${dir}.old-${process.pid}-${Date.now()}`;
    if (fs.existsSync(dir)) fs.renameSync(dir, old);
    fs.renameSync(tmp, dir);
    fs.rmSync(old, { recursive: true, force: true });
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

/** Reads the optimizer state and trainer state of a checkpoint folder (the model loads as any HF folder). */
export function loadCheckpointState(dir: string): { optimizer: AdamWState; state: CheckpointState } {
  const stateFile = path.join(dir, 'state.json');
  let raw: CheckpointState & { optimizerStep?: number };
  try {
    raw = JSON.parse(fs.readFileSync(stateFile, 'utf8'));
  } catch (e) {
    throw new ModelFormatError(`${stateFile}: cannot read checkpoint state (${(e as Error).message})`);
  }
  if (!Number.isInteger(raw.step) || !Number.isInteger(raw.optimizerStep)) {
    throw new ModelFormatError(`${stateFile}: fields step and optimizerStep must be integers`);
  }
  const moments = readSafetensors(path.join(dir, 'optimizer.safetensors')).tensors;
  const optimizer: AdamWState = { step: raw.optimizerStep!, m: new Map(), v: new Map() };
  for (const [key, t] of moments) {
    const target = key.startsWith('m.') ? optimizer.m : optimizer.v;
    target.set(key.slice(2), t.data as Float32Array);
  }
  return { optimizer, state: { step: raw.step, rngState: raw.rngState, extra: raw.extra ?? {} } };
}

/** The newest `iter-NNNNNN` checkpoint under `dir/checkpoints`, if any. */
export function latestCheckpoint(dir: string): string | undefined {
  const root = path.join(dir, 'checkpoints');
  if (!fs.existsSync(root)) return undefined;
  const names = fs.readdirSync(root).filter((n) => /^iter-\d+$/.test(n)).sort();
  return names.length ? path.join(root, names[names.length - 1]) : undefined;
}

export const checkpointName = (step: number) => `iter-${String(step).padStart(6, '0')}`;
