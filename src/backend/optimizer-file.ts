/**
 * The optimizer's moments on disk: one safetensors file with `m.<param>` and `v.<param>` (first and second moments,
 * flat). The step count travels beside it (a checkpoint's state.json), so reading takes it as an argument.
 */
import { readSafetensors, writeSafetensors } from '../model/safetensors.ts';
import type { AdamWState } from '../optim/adamw.ts';

export const OPTIMIZER_FILE = 'optimizer.safetensors';

export function writeAdamWState(file: string, state: AdamWState): void {
  const moments = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, m] of state.m) moments.set(`m.${name}`, { shape: [m.length], data: m });
  for (const [name, v] of state.v) moments.set(`v.${name}`, { shape: [v.length], data: v });
  writeSafetensors(file, moments);
}

export function readAdamWState(file: string, step: number): AdamWState {
  const state: AdamWState = { step, m: new Map(), v: new Map() };
  for (const [key, t] of readSafetensors(file).tensors) {
    const target = key.startsWith('m.') ? state.m : state.v;
    target.set(key.slice(2), t.data as Float32Array);
  }
  return state;
}
