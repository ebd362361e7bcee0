/**
 * Checkpoints: a folder with the model (HF layout: config.json + model.safetensors, tokenizer files copied), the
 * optimizer state (optimizer.safetensors: first and second moments) and state.json (step, RNG state, run info).
 * Written into a temporary folder and renamed into place (saveModelFolder), so a crash never leaves a half-written
 * checkpoint.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ModelFormatError } from '../errors.ts';
import { readSafetensors, writeSafetensors } from '../model/safetensors.ts';
import type { AdamWState } from '../optim/adamw.ts';
import { saveModelFolder } from '../model/save.ts';

export interface CheckpointState {
  step: number;
  rngState: number;
  /** Anything else the trainer needs to resume (phase, tokens seen, wall time...). */
  extra: Record<string, unknown>;
}

export interface CheckpointContents {
  /** The HF config.json object to write. */
  config: Record<string, unknown>;
  weights: Map<string, Float32Array>;
  optimizer: AdamWState;
  state: CheckpointState;
  /** Folder whose tokenizer files are copied in, so the checkpoint loads as a chat model. */
  tokenizerFrom?: string;
  /** More files for the same atomic folder (e.g. a LoRA adapter). */
  extraFiles?: (tmpDir: string) => void;
}

const writeJson = (file: string, value: unknown) => fs.writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);

/** Writes a checkpoint folder atomically: an HF model folder (saveModelFolder) plus optimizer.safetensors and state.json. */
export function saveCheckpoint(dir: string, c: CheckpointContents): void {
  saveModelFolder(dir, {
    config: c.config,
    weights: c.weights,
    tokenizerFrom: c.tokenizerFrom,
    extraFiles: (tmp) => {
      const moments = new Map<string, { shape: number[]; data: Float32Array }>();
      for (const [name, m] of c.optimizer.m) moments.set(`m.${name}`, { shape: [m.length], data: m });
      for (const [name, v] of c.optimizer.v) moments.set(`v.${name}`, { shape: [v.length], data: v });
      writeSafetensors(path.join(tmp, 'optimizer.safetensors'), moments);
      writeJson(path.join(tmp, 'state.json'), { ...c.state, optimizerStep: c.optimizer.step });
      c.extraFiles?.(tmp);
    },
  });
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
