/**
 * Choosing the next token from a row of log-probs: temperature, top-k, top-p, then a seeded draw.
 * Temperature 0 is greedy. The log-prob reported for a token is always the model's own (temperature 1),
 * so it matches what the training path computes for the same sequence.
 */
import { InputError } from '../errors.ts';
import type { Rng } from '../util/rng.ts';

export interface SamplingParams {
  /** 0 = greedy; the paper evaluates at 0.01. */
  temperature: number;
  /** Nucleus sampling: smallest set of tokens whose probability reaches topP (1 = off). */
  topP: number;
  /** Keep only the k most likely tokens (0 = off). */
  topK: number;
}

export function checkSamplingParams(p: SamplingParams): void {
  if (!(p.temperature >= 0)) throw new InputError(`temperature must be >= 0, got ${p.temperature}`);
  if (!(p.topP > 0 && p.topP <= 1)) throw new InputError(`top-p must be in (0, 1], got ${p.topP}`);
  if (!(Number.isInteger(p.topK) && p.topK >= 0)) throw new InputError(`top-k must be an integer >= 0, got ${p.topK}`);
}

/** Index of the largest entry of row [offset, offset + V). */
function argmax(row: Float32Array, offset: number, V: number): number {
  let best = 0;
  for (let v = 1; v < V; v++) if (row[offset + v] > row[offset + best]) best = v;
  return best;
}

/** Draws a token id in [0, V) from logprobs[offset .. offset+V); a V below the row's width masks the ids above it. */
export function sampleToken(logprobs: Float32Array, offset: number, V: number, p: SamplingParams, rng: Rng): number {
  if (p.temperature === 0) return argmax(logprobs, offset, V);
  let candidates = [...Array(V).keys()];
  const score = (v: number) => logprobs[offset + v] / p.temperature;
  if (p.topK > 0 && p.topK < V) {
    candidates.sort((a, b) => score(b) - score(a));
    candidates = candidates.slice(0, p.topK);
  }
  const top = Math.max(...candidates.map(score));
  let weights = candidates.map((v) => Math.exp(score(v) - top));
  if (p.topP < 1) ({ candidates, weights } = nucleus(candidates, weights, p.topP));
  const total = weights.reduce((a, b) => a + b, 0);
  let u = rng.next() * total;
  for (let i = 0; i < candidates.length; i++) {
    u -= weights[i];
    if (u < 0) return candidates[i];
  }
  return candidates[candidates.length - 1];
}

function nucleus(candidates: number[], weights: number[], topP: number) {
  const order = candidates.map((_, i) => i).sort((a, b) => weights[b] - weights[a]);
  const total = weights.reduce((a, b) => a + b, 0);
  const keep: number[] = [];
  let mass = 0;
  for (const i of order) {
    keep.push(i);
    mass += weights[i] / total;
    if (mass >= topP) break;
  }
  return { candidates: keep.map((i) => candidates[i]), weights: keep.map((i) => weights[i]) };
}
