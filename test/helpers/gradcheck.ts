/**
 * Finite-difference gradient checks, in float64 graphs run by ONNX Runtime (the same ops and ONNX nodes as the
 * float32 models, with rounding out of the way). loss = sum(out * W) for a fixed random W, so every output
 * element matters; analytic gradients from autodiff are compared with central differences.
 */
import assert from 'node:assert/strict';
import { Graph, grad, mul, reduceSum, type Shape, type Tensor, toOnnx } from '../../src/tensor/index.ts';
import { type HostTensor, Runtime } from '../../src/runtime/runtime.ts';

export const runtime = new Runtime({ threads: 1 });

/** Deterministic pseudo-random numbers (mulberry32), uniform in [lo, hi). */
export function seededUniform(seed: number, n: number, lo = -1, hi = 1): Float64Array {
  let s = seed >>> 0;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const u = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    out[i] = lo + (hi - lo) * u;
  }
  return out;
}

export interface CheckInput {
  shape: Shape;
  /** Values; default uniform [-1, 1). */
  values?: Float64Array;
}

export interface CheckOptions {
  /** Non-trainable int64 inputs (ids), by name. */
  ints?: Record<string, { shape: Shape; values: number[] }>;
  /** Non-trainable float64 inputs (masks), by name; passed to `fn` in the same record as the ints. */
  floats?: Record<string, { shape: Shape; values: number[] | Float64Array }>;
  eps?: number;
  tolerance?: number;
  /** At most this many elements per input are perturbed (spread evenly). */
  maxProbes?: number;
}

type BuildFn = (xs: Tensor[], fixed: Record<string, Tensor>) => Tensor;

/** Builds loss = sum(fn(xs) * W) and its gradients, compiles them; returns the session and a feed builder. */
async function build(name: string, inputs: CheckInput[], fn: BuildFn, opts: CheckOptions) {
  const g = new Graph(`gradcheck_${name}`, 'float64');
  const xs = inputs.map((spec, i) => g.input(`x${i}`, spec.shape, 'float64', true));
  const fixed: Record<string, Tensor> = {};
  for (const [k, spec] of Object.entries(opts.ints ?? {})) fixed[k] = g.input(k, spec.shape, 'int64');
  for (const [k, spec] of Object.entries(opts.floats ?? {})) fixed[k] = g.input(k, spec.shape, 'float64');
  const out = fn(xs, fixed);
  const weights = g.constant(seededUniform(99, out.size, 0.5, 1.5), out.shape, 'float64');
  const loss = reduceSum(mul(out, weights));
  const grads = grad(loss, xs);
  const outputs: Record<string, Tensor> = { loss };
  grads.forEach((d, i) => (outputs[`grad${i}`] = d));
  const session = await runtime.compile(`gradcheck_${name}_${Math.random()}`, () => toOnnx(g, outputs));
  const values = inputs.map((spec, i) => spec.values ?? seededUniform(i + 1, xs[i].size));
  const feeds = (): Record<string, HostTensor> => {
    const f: Record<string, HostTensor> = {};
    xs.forEach((x, i) => (f[x.name] = { data: values[i], dims: x.shape }));
    for (const [k, spec] of Object.entries(opts.ints ?? {})) {
      f[k] = { data: BigInt64Array.from(spec.values.map(BigInt)), dims: spec.shape };
    }
    for (const [k, spec] of Object.entries(opts.floats ?? {})) f[k] = { data: Float64Array.from(spec.values), dims: spec.shape };
    return f;
  };
  return { xs, session, values, feeds, weights: seededUniform(99, out.size, 0.5, 1.5) };
}

/**
 * The analytic gradients only (no finite differences) of loss = sum(fn(xs) * W), with W returned too:
 * for checks that finite differences cannot make (e.g. that stop-gradient blocks a path).
 */
export async function analyticGrads(
  name: string,
  inputs: CheckInput[],
  fn: BuildFn,
  opts: CheckOptions = {},
): Promise<{ grads: Float64Array[]; values: Float64Array[]; weights: Float64Array }> {
  const { xs, session, values, feeds, weights } = await build(name, inputs, fn, opts);
  const res = await session.run(feeds());
  await session.release();
  return { grads: xs.map((_, i) => res[`grad${i}`].data as Float64Array), values, weights };
}

/**
 * Builds `fn` on trainable float64 inputs, checks every input's gradient against central differences and
 * returns the max relative difference. Fails with the op name, input and max difference.
 */
export async function gradcheck(name: string, inputs: CheckInput[], fn: BuildFn, opts: CheckOptions = {}): Promise<number> {
  const { xs, session, values, feeds } = await build(name, inputs, fn, opts);
  const analytic = await session.run(feeds());
  const lossAt = async (): Promise<number> => (await session.run(feeds(), ['loss'])).loss.data[0] as number;
  const eps = opts.eps ?? 1e-6;
  let worst = 0;
  for (let i = 0; i < xs.length; i++) {
    const n = xs[i].size;
    const probes = Math.min(n, opts.maxProbes ?? 64);
    for (let p = 0; p < probes; p++) {
      const j = Math.floor((p * n) / probes);
      const keep = values[i][j];
      values[i][j] = keep + eps;
      const up = await lossAt();
      values[i][j] = keep - eps;
      const down = await lossAt();
      values[i][j] = keep;
      const numeric = (up - down) / (2 * eps);
      const got = analytic[`grad${i}`].data[j] as number;
      worst = Math.max(worst, Math.abs(got - numeric) / Math.max(1, Math.abs(numeric)));
    }
  }
  await session.release();
  const tolerance = opts.tolerance ?? 1e-6;
  assert.ok(worst <= tolerance, `${name}: max relative gradient difference ${worst.toExponential(3)} > ${tolerance}`);
  return worst;
}
