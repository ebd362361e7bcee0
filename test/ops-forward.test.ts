/**
 * Forward values of the engine's float32 graphs (run by ONNX Runtime) against naive float64 references written
 * with plain loops (test/helpers/naive.ts), including extreme inputs. Each comparison prints its max difference
 * relative to the reference's largest magnitude.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../src/tensor/index.ts';
import type { HostTensor } from '../src/runtime/runtime.ts';
import { expectClose } from './helpers/compare.ts';
import { runtime, seededUniform } from './helpers/gradcheck.ts';
import * as naive from './helpers/naive.ts';

after(() => runtime.release());
const TOL = 1e-5;

type Feed = Float32Array | BigInt64Array;

/** Builds a float32 graph with the named inputs, runs `fn`'s output once and returns it as float64. */
async function run(
  name: string,
  inputs: Record<string, { shape: T.Shape; data: Feed }>,
  fn: (xs: Record<string, T.Tensor>, g: T.Graph) => T.Tensor,
): Promise<Float64Array> {
  const g = new T.Graph(`fwd_${name}`);
  const xs: Record<string, T.Tensor> = {};
  const feeds: Record<string, HostTensor> = {};
  for (const [k, { shape, data }] of Object.entries(inputs)) {
    xs[k] = g.input(k, shape, data instanceof BigInt64Array ? 'int64' : 'float32');
    feeds[k] = { data, dims: shape };
  }
  const y = fn(xs, g);
  const key = `fwd_${name}_${Math.random()}`;
  const session = await runtime.compile(key, () => T.toOnnx(g, { y }));
  const out = await session.run(feeds);
  await runtime.release(key);
  assert.deepEqual(out.y.dims, y.shape, `${name}: ONNX output dims differ from the recorded shape`);
  return Float64Array.from(out.y.data as Float32Array);
}

/** float32 random values (the reference sees exactly what the engine sees). */
const rand = (seed: number, n: number, lo = -1, hi = 1) => Float32Array.from(seededUniform(seed, n, lo, hi));
const f32 = (shape: T.Shape, seed: number, lo = -1, hi = 1) => ({ shape, data: rand(seed, T.numel(shape), lo, hi) });
const allFinite = (xs: ArrayLike<number>) => Array.from(xs).every(Number.isFinite);

test('matmul with transposes: Gemm (rank 2), batched with alpha, broadcast batch', async () => {
  for (const transA of [false, true]) {
    for (const transB of [false, true]) {
      const [M, K, N] = [5, 7, 3];
      const aShape = transA ? [K, M] : [M, K];
      const bShape = transB ? [N, K] : [K, N];
      for (const [batch, alpha] of [[0, 1], [0, 0.5], [2, 1], [2, 0.125]]) {
        const a = f32(batch ? [batch, ...aShape] : aShape, 1);
        const b = f32(batch ? [batch, ...bShape] : bShape, 2);
        const got = await run('mm', { a, b }, ({ a, b }) => T.matmul(a, b, { transA, transB, alpha }));
        const ref = naive.matmul(a.data, [...a.shape], b.data, [...b.shape], { transA, transB, alpha });
        expectClose(`matmul tA=${transA} tB=${transB} batch=${batch} alpha=${alpha}`, got, ref.data, TOL);
      }
    }
  }
  const a = f32([3, 4, 6], 3);
  for (const transB of [false, true]) {
    const b = f32(transB ? [5, 6] : [6, 5], 4);
    const got = await run('mm_bcast', { a, b }, ({ a, b }) => T.matmul(a, b, { transB, alpha: 0.5 }));
    const ref = naive.matmul(a.data, [...a.shape], b.data, [...b.shape], { transB, alpha: 0.5 });
    expectClose(`matmul [3,4,6] @ rank 2 tB=${transB}`, got, ref.data, TOL);
  }
});

test('softmax and logSoftmax, ordinary logits', async () => {
  const x = f32([3, 4, 9], 5, -5, 5);
  expectClose('softmax', await run('sm', { x }, ({ x }) => T.softmax(x)), naive.softmax(x.data, 9), TOL);
  expectClose('logSoftmax', await run('lsm', { x }, ({ x }) => T.logSoftmax(x)), naive.logSoftmax(x.data, 9), TOL);
});

test('softmax and logSoftmax with logits of magnitude 1e3 and -1e3', async () => {
  const V = 6;
  // rows: mixed +-1e3, all +1e3, all -1e3, one dominant, random in [-1e3, 1e3]
  const rows = [
    [1000, 999, -1000, 0, 998, -999],
    [1000, 1000, 1000, 1000, 1000, 1000],
    [-1000, -1000, -1000, -1000, -1000, -1001],
    [1000, -1000, -1000, -1000, -1000, -1000],
    Array.from(seededUniform(6, V, -1000, 1000)),
  ];
  const x = { shape: [rows.length, V], data: Float32Array.from(rows.flat()) };
  const sm = await run('sm_big', { x }, ({ x }) => T.softmax(x));
  const lsm = await run('lsm_big', { x }, ({ x }) => T.logSoftmax(x));
  assert.ok(allFinite(sm) && allFinite(lsm), 'no NaN/Inf in softmax or logSoftmax of +-1e3 logits');
  expectClose('softmax +-1e3', sm, naive.softmax(x.data, V), TOL);
  expectClose('logSoftmax +-1e3', lsm, naive.logSoftmax(x.data, V), TOL);
  // exact expectations: first row p = [1, e^-1, 0, 0, e^-2, 0] / (1 + e^-1 + e^-2); uniform rows; one-hot row
  const z = 1 + Math.exp(-1) + Math.exp(-2);
  [1 / z, Math.exp(-1) / z, 0, 0, Math.exp(-2) / z, 0].forEach((p, j) => assert.ok(Math.abs(sm[j] - p) < 1e-6, `row 0 col ${j}`));
  for (let j = 0; j < V; j++) assert.ok(Math.abs(sm[V + j] - 1 / V) < 1e-6, 'all-equal +1e3 row is uniform');
  assert.ok(Math.abs(lsm[3 * V] - 0) < 1e-6 && Math.abs(lsm[3 * V + 1] + 2000) < 1e-3, 'one-hot row: log p = 0 and -2000');
});

test('per-token logprobs (ordinary and +-1e3 logits)', async () => {
  const [B, Tn, V] = [2, 4, 11];
  const targets = [0, 10, 3, 3, 7, 1, 10, 5];
  const ids = { shape: [B, Tn], data: BigInt64Array.from(targets.map(BigInt)) };
  for (const [scale, seed] of [[3, 7], [1000, 8]]) {
    const logits = f32([B, Tn, V], seed, -scale, scale);
    const got = await run('lp', { logits, ids }, ({ logits, ids }) => T.tokenLogprobs(logits, ids));
    assert.ok(allFinite(got), `finite logprobs at logit scale ${scale}`);
    expectClose(`tokenLogprobs scale ${scale}`, got, naive.tokenLogprobs(logits.data, V, targets), TOL);
  }
});

test('rmsNorm (ordinary and large inputs)', async () => {
  const C = 16;
  const w = f32([C], 9, 0.5, 1.5);
  for (const [scale, seed] of [[1, 10], [3000, 11]]) {
    const x = f32([2, 3, C], seed, -scale, scale);
    const got = await run('rms', { x, w }, ({ x, w }) => T.rmsNorm(x, w, 1e-6));
    expectClose(`rmsNorm scale ${scale}`, got, naive.rmsNorm(x.data, w.data, 1e-6), TOL);
  }
});

test('rope (rotate-half) with ropeTables, including a large position', async () => {
  const [B, H, Tn, D] = [2, 3, 6, 8];
  const positions = [0, 1, 2, 5, 17, 100];
  const x = f32([B, H, Tn, D], 12);
  const { cos, sin } = T.ropeTables(positions, D, 10000);
  const got = await run('rope', { x }, ({ x }, g) =>
    T.rope(x, g.constant(Float32Array.from(cos), [Tn, D]), g.constant(Float32Array.from(sin), [Tn, D])),
  );
  expectClose('rope', got, naive.rope(x.data, [B, H, Tn, D], positions, 10000), TOL);
});

test('reductions over large values', async () => {
  const x = f32([4, 512], 13, 1e6, 2e6);
  const sum = await run('rsum', { x }, ({ x }) => T.reduceSum(x, -1));
  const mean = await run('rmean', { x }, ({ x }) => T.reduceMean(x, 0, true));
  const all = await run('rall', { x }, ({ x }) => T.reduceSum(x));
  const refSum = Array.from({ length: 4 }, (_, r) => x.data.slice(r * 512, (r + 1) * 512).reduce((a, b) => a + b, 0));
  const refMean = Array.from({ length: 512 }, (_, c) => (x.data[c] + x.data[512 + c] + x.data[1024 + c] + x.data[1536 + c]) / 4);
  expectClose('reduceSum 512 values ~1e6', sum, refSum, TOL);
  expectClose('reduceMean axis 0 ~1e6', mean, refMean, TOL);
  expectClose('reduceSum all 2048 values ~1e6', all, [refSum.reduce((a, b) => a + b)], TOL);
});

/**
 * Masks [B=3, T=6]: left padding (rows 0..1 of batch 0 see only padding keys: fully padded), right padding,
 * none.
 */
const MASK = [0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1];

for (const [H, K] of [[4, 2], [2, 2], [4, 1], [6, 2]]) {
  test(`grouped-query causal attention H=${H} K=${K} with padding mask`, async () => {
    const dims = { B: 3, H, K, T: 6, D: 8 };
    const { B, T: Tn, D } = dims;
    const q = f32([B, H, Tn, D], 14, -2, 2);
    const k = f32([B, K, Tn, D], 15, -2, 2);
    const v = f32([B, K, Tn, D], 16);
    const mask = { shape: [B, Tn], data: Float32Array.from(MASK) };
    const got = await run('attn', { q, k, v, mask }, ({ q, k, v, mask }, g) =>
      T.groupedAttention(q, k, v, T.add(T.causalBias(g, H / K, Tn), T.paddingBias(mask))),
    );
    assert.ok(allFinite(got), 'attention output has no NaN/Inf, fully padded rows included');
    const ref = naive.attention(q.data, k.data, v.data, dims, MASK);
    const fullyPadded = ref.hasKeys.filter((h) => !h).length;
    assert.equal(fullyPadded, 2 * H, 'the fixture has fully padded query rows');
    // compare rows that see at least one real key; fully padded rows only need to be finite
    const keep = (_: number, i: number) => ref.hasKeys[Math.floor(i / D)];
    expectClose(`attention H=${H} K=${K}`, got.filter(keep), ref.out.filter(keep), TOL);
  });
}
