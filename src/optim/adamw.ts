/**
 * AdamW (decoupled weight decay, bias correction) with global-norm gradient clipping, on the host parameter
 * store. State (first and second moments) is kept per parameter and can be saved and restored.
 * Matches torch.optim.AdamW preceded by torch.nn.utils.clip_grad_norm_ (which divides by norm + 1e-6).
 *
 * The update is one fused pass per tensor (parameter, gradient and moments read once, written once): large tensors
 * through a WebAssembly SIMD kernel (adamw-simd.ts, float32 like torch), small ones and tails by the scalar loop.
 */
import { invariant, SelfplayError } from '../errors.ts';
import { adamwSimd, simdAvailable } from './adamw-simd.ts';

/** Tensors of at least this many elements take the SIMD kernel (below, the scalar loop is as fast). */
export const SIMD_MIN_ELEMENTS = 4096;

export interface AdamWOptions {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** Clip the global gradient norm to this value; 0 or Infinity disables clipping. */
  maxGradNorm: number;
  /** Which parameters get weight decay (default: all). */
  decays?: (name: string) => boolean;
}

export const ADAMW_DEFAULTS: AdamWOptions = { lr: 1e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, maxGradNorm: 1 };

export interface AdamWState {
  step: number;
  m: Map<string, Float32Array>;
  v: Map<string, Float32Array>;
}

/**
 * The global L2 norm of a set of gradients (accumulated in float64). Four independent partial sums: one running sum
 * makes every addition wait for the previous one.
 */
export function globalNorm(grads: Map<string, Float32Array>): number {
  let sum = 0;
  for (const g of grads.values()) {
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    const n4 = g.length - (g.length % 4);
    for (let i = 0; i < n4; i += 4) {
      s0 += g[i] * g[i];
      s1 += g[i + 1] * g[i + 1];
      s2 += g[i + 2] * g[i + 2];
      s3 += g[i + 3] * g[i + 3];
    }
    for (let i = n4; i < g.length; i++) s0 += g[i] * g[i];
    sum += s0 + s1 + s2 + s3;
  }
  return Math.sqrt(sum);
}

export class AdamW {
  state: AdamWState = { step: 0, m: new Map(), v: new Map() };

  constructor(readonly options: AdamWOptions) {}

  /** Continues from a saved state (moments and step count). */
  restore(state: AdamWState): void {
    this.state = state;
  }

  /**
   * One update of `params` in place from `grads` (same names). Returns the gradient norm before clipping.
   * `lr` overrides the configured rate for this step (schedules); `gradNorm`, when the caller already computed
   * globalNorm(grads), saves a pass over every gradient.
   */
  step(params: Map<string, Float32Array>, grads: Map<string, Float32Array>, lr = this.options.lr, gradNorm = globalNorm(grads)): { gradNorm: number } {
    const o = this.options;
    if (!Number.isFinite(gradNorm)) throw new SelfplayError(`AdamW: gradient norm is ${gradNorm}; refusing to update`);
    const clip = o.maxGradNorm > 0 && Number.isFinite(o.maxGradNorm) ? Math.min(1, o.maxGradNorm / (gradNorm + 1e-6)) : 1;
    const t = ++this.state.step;
    const stepSize = lr / (1 - Math.pow(o.beta1, t));
    const bc2Sqrt = Math.sqrt(1 - Math.pow(o.beta2, t));
    for (const [name, g] of grads) {
      const p = params.get(name);
      invariant(p && p.length === g.length, `AdamW: gradient ${name} has no parameter of its size`);
      const decay = o.weightDecay > 0 && (o.decays?.(name) ?? true) ? 1 - lr * o.weightDecay : 1;
      const m = this.moment(this.state.m, name, p.length);
      const v = this.moment(this.state.v, name, p.length);
      updateTensor(p, g, m, v, { clip, decay, stepSize, bc2Sqrt, beta1: o.beta1, beta2: o.beta2, eps: o.eps });
    }
    return { gradNorm };
  }

  private moment(store: Map<string, Float32Array>, name: string, n: number): Float32Array {
    let a = store.get(name);
    if (!a) store.set(name, (a = new Float32Array(n)));
    return a;
  }
}

export interface UpdateScalars {
  clip: number;
  decay: number;
  stepSize: number;
  bc2Sqrt: number;
  beta1: number;
  beta2: number;
  eps: number;
}

/**
 * The AdamW update of one tensor: the SIMD kernel over the largest multiple of 4 elements when the tensor is large
 * (`simd`: 'auto' by size, or forced on or off, for tests), the scalar loop for the rest.
 */
export function updateTensor(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, s: UpdateScalars, simd: 'auto' | boolean = 'auto'): void {
  const useSimd = simdAvailable && (simd === 'auto' ? p.length >= SIMD_MIN_ELEMENTS : simd);
  const from = useSimd ? p.length - (p.length % 4) : 0;
  if (useSimd) {
    adamwSimd(p, g, m, v, from, { clip: s.clip, b1: s.beta1, b2: s.beta2, stepSize: s.stepSize, invBc2Sqrt: 1 / s.bc2Sqrt, eps: s.eps, decay: s.decay });
  }
  scalarUpdate(p, g, m, v, s, from);
}

/** The per-element update of elements [from, end); scalars hoisted into locals so the loop stays tight. */
function scalarUpdate(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, s: UpdateScalars, from: number): void {
  const { clip, decay, stepSize, beta1, beta2, eps } = s;
  const oneMinusB1 = 1 - beta1;
  const oneMinusB2 = 1 - beta2;
  const invBc2Sqrt = 1 / s.bc2Sqrt;
  for (let i = from; i < p.length; i++) {
    const gi = g[i] * clip;
    const mi = beta1 * m[i] + oneMinusB1 * gi;
    const vi = beta2 * v[i] + oneMinusB2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i] * decay - (stepSize * mi) / (Math.sqrt(vi) * invBc2Sqrt + eps);
  }
}
