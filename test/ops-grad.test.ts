/**
 * Finite-difference gradient checks (float64 graphs run by ONNX Runtime) for every differentiable op exported by
 * src/tensor/index.ts and for the transformer composites. Each check prints its max relative difference.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../src/tensor/index.ts';
import { analyticGrads, type CheckInput, type CheckOptions, gradcheck, seededUniform } from './helpers/gradcheck.ts';

const report = (name: string, d: number) => console.log(`  ${name}: max rel diff ${d.toExponential(2)}`);
type Fn = (xs: T.Tensor[], fixed: Record<string, T.Tensor>) => T.Tensor;

/** Runs gradcheck and prints its result. */
async function check(name: string, shapes: (T.Shape | CheckInput)[], fn: Fn, opts: CheckOptions = {}): Promise<void> {
  const inputs = shapes.map((s) => ('shape' in s ? s : { shape: s }));
  report(name, await gradcheck(name.replace(/\W+/g, '_'), inputs, fn, opts));
}

const positive = (seed: number, n: number) => seededUniform(seed, n, 0.5, 2);

test('matmul with every transpose combination, rank 2 and batched', async () => {
  for (const transA of [false, true]) {
    for (const transB of [false, true]) {
      const a = transA ? [4, 3] : [3, 4];
      const b = transB ? [5, 4] : [4, 5];
      report(`mm ${transA} ${transB}`, await gradcheck('mm', [{ shape: a }, { shape: b }], ([x, y]) => T.matmul(x, y, { transA, transB })));
      report(`bmm ${transA} ${transB}`, await gradcheck('bmm', [{ shape: [2, ...a] }, { shape: [2, ...b] }], ([x, y]) => T.matmul(x, y, { transA, transB })));
    }
  }
});

test('matmul: alpha and broadcast batch axes', async () => {
  await check('bmm alpha transB', [[2, 3, 4], [2, 5, 4]], ([x, y]) => T.matmul(x, y, { transB: true, alpha: 0.25 }));
  await check('bmm rank 3 @ rank 2', [[2, 3, 4], [4, 5]], ([x, y]) => T.matmul(x, y));
  await check('bmm batch 1 broadcast', [[1, 3, 4], [2, 4, 5]], ([x, y]) => T.matmul(x, y, { transA: false, alpha: 2 }));
});

test('binary ops: same shape, broadcasting both ways, rank differences, scalar numbers', async () => {
  const ops = { add: T.add, sub: T.sub, mul: T.mul, div: T.div };
  const pairs: [T.Shape, T.Shape][] = [
    [[2, 3], [2, 3]],
    [[2, 3], [1, 3]],
    [[2, 1], [1, 3]],
    [[4], [2, 3, 4]],
    [[2, 3, 4], [3, 1]],
    [[], [2, 3]],
  ];
  for (const [name, op] of Object.entries(ops)) {
    for (const [a, b] of pairs) {
      // divisors kept away from zero
      const bIn = name === 'div' ? { shape: b, values: positive(7, T.numel(b)) } : { shape: b };
      await check(`${name} [${a}] [${b}]`, [{ shape: a }, bIn], ([x, y]) => op(x, y));
    }
    await check(`${name} tensor,number`, [[2, 3]], ([x]) => op(x, 1.5));
    await check(`${name} number,tensor`, [{ shape: [2, 3], values: positive(3, 6) }], ([x]) => op(1.5, x));
  }
  await check('x op x (same tensor twice)', [[2, 3]], ([x]) => T.div(T.mul(x, x), T.add(T.sub(x, x), 3)));
});

test('unary ops', async () => {
  const any: [string, (x: T.Tensor) => T.Tensor][] = [
    ['neg', T.neg],
    ['exp', T.exp],
    ['sigmoid', T.sigmoid],
    ['tanh', T.tanh],
    ['silu', T.silu],
    ['square', T.square],
  ];
  for (const [name, op] of any) await check(name, [{ shape: [3, 4], values: seededUniform(5, 12, -3, 3) }], ([x]) => op(x));
  await check('log', [{ shape: [3, 4], values: positive(5, 12) }], ([x]) => T.log(x));
  await check('sqrt', [{ shape: [3, 4], values: positive(6, 12) }], ([x]) => T.sqrt(x));
  const awayFromZero = seededUniform(8, 12, 0.5, 2).map((v, i) => (i % 2 ? -v : v));
  await check('reciprocal', [{ shape: [3, 4], values: awayFromZero }], ([x]) => T.reciprocal(x));
});

test('reductions: several axes, keepDims, all axes', async () => {
  for (const [name, op] of [['reduceSum', T.reduceSum], ['reduceMean', T.reduceMean]] as const) {
    for (const keep of [false, true]) {
      await check(`${name} axis -1 keep=${keep}`, [[2, 3, 4]], ([x]) => op(x, -1, keep));
      await check(`${name} axis 1 keep=${keep}`, [[2, 3, 4]], ([x]) => op(x, 1, keep));
      await check(`${name} axes [0,2] keep=${keep}`, [[2, 3, 4]], ([x]) => op(x, [0, 2], keep));
      await check(`${name} all axes keep=${keep}`, [[2, 3, 4]], ([x]) => op(x, undefined, keep));
    }
  }
});

test('expand and sumTo', async () => {
  await check('expand [3,1] -> [2,3,4]', [[3, 1]], ([x]) => T.expand(x, [2, 3, 4]));
  await check('expand [] -> [2,3]', [[]], ([x]) => T.expand(x, [2, 3]));
  await check('sumTo [2,3,4] -> [3,1]', [[2, 3, 4]], ([x]) => T.sumTo(x, [3, 1]));
});

test('shape ops: reshape, transpose, concat, slice, pad', async () => {
  await check('reshape with -1', [[2, 3, 4]], ([x]) => T.reshape(x, [-1, 6]));
  await check('reshape to rank 1', [[2, 3, 4]], ([x]) => T.reshape(x, [-1]));
  await check('transpose [2,0,1]', [[2, 3, 4]], ([x]) => T.transpose(x, [2, 0, 1]));
  await check('concat 3 inputs, middle axis', [[2, 1, 3], [2, 2, 3], [2, 3, 3]], (xs) => T.concat(xs, 1));
  await check('concat negative axis', [[2, 3], [2, 1]], (xs) => T.concat(xs, -1));
  await check('slice negative indices', [[2, 6, 3]], ([x]) => T.slice(x, 1, -4, -1));
  await check('slice negative axis', [[2, 6, 3]], ([x]) => T.slice(x, -1, 1, 3));
  await check('pad axis 1', [[2, 3, 4]], ([x]) => T.pad(x, 1, 2, 1));
  await check('pad before only', [[2, 3]], ([x]) => T.pad(x, 0, 1, 0));
});

test('pad with a negative axis pads the axis counted from the end', async () => {
  const g = new T.Graph('pad_neg');
  const y = T.pad(g.input('x', [2, 3]), -1, 1, 2);
  assert.deepEqual(y.shape, [2, 6], 'pad(x[2,3], -1, 1, 2) must have shape [2,6]');
  await check('pad axis -1', [[2, 3]], ([x]) => T.pad(x, -1, 1, 2));
});

test('linear: rank 3 input, with and without bias', async () => {
  await check('linear no bias', [[2, 3, 4], [5, 4]], ([x, w]) => T.linear(x, w));
  await check('linear bias', [[2, 3, 4], [5, 4], [5]], ([x, w, b]) => T.linear(x, w, b));
  await check('linear rank 2', [[3, 4], [5, 4], [5]], ([x, w, b]) => T.linear(x, w, b));
});

test('softmax and logSoftmax', async () => {
  const wide = { shape: [2, 3, 5], values: seededUniform(4, 30, -4, 4) };
  await check('softmax', [wide], ([x]) => T.softmax(x));
  await check('logSoftmax', [wide], ([x]) => T.logSoftmax(x));
});

test('embedding with repeated ids', async () => {
  const ints = { ids: { shape: [2, 4], values: [1, 3, 1, 0, 3, 3, 5, 1] } };
  await check('embedding', [[6, 3]], ([table], { ids }) => T.embedding(table, ids), { ints });
});

test('gatherLast and tokenLogprobs', async () => {
  const ints = { targets: { shape: [2, 3], values: [0, 4, 2, 4, 4, 1] } };
  await check('gatherLast', [[2, 3, 5]], ([x], { targets }) => T.gatherLast(x, targets), { ints });
  await check('tokenLogprobs', [[2, 3, 5]], ([x], { targets }) => T.tokenLogprobs(x, targets), { ints });
});

test('stopGradient: no gradient through it, the other path still flows', async () => {
  const values = [seededUniform(3, 6)];
  // f(x) = x * stopGradient(x): df/dx = x (not 2x), so dL/dx = x * W
  const { grads, weights } = await analyticGrads('sg_mul', [{ shape: [2, 3], values: values[0] }], ([x]) => T.mul(x, T.stopGradient(x)));
  let worst = 0;
  grads[0].forEach((d, i) => (worst = Math.max(worst, Math.abs(d - values[0][i] * weights[i]))));
  report('x * stopGradient(x) vs x*W', worst);
  assert.ok(worst < 1e-15, `gradient through stopGradient leaked: ${worst}`);
  // only through stopGradient: exactly zero
  const only = await analyticGrads('sg_only', [{ shape: [2, 3] }], ([x]) => T.exp(T.stopGradient(x)));
  assert.ok(only.grads[0].every((d) => d === 0), 'gradient through stopGradient alone must be exactly 0');
  // one input stopped, the other not: d/dy (sg(x) * y) = x
  const two = await analyticGrads('sg_two', [{ shape: [3] }, { shape: [3] }], ([x, y]) => T.mul(T.stopGradient(x), y));
  assert.ok(two.grads[0].every((d) => d === 0));
  two.grads[1].forEach((d, i) => assert.ok(Math.abs(d - two.values[0][i] * two.weights[i]) < 1e-15));
});

test('rmsNorm', async () => {
  await check('rmsNorm', [[2, 3, 8], { shape: [8], values: positive(2, 8) }], ([x, w]) => T.rmsNorm(x, w, 1e-5));
});

test('rope with ropeTables constants', async () => {
  const [B, H, Tn, D] = [2, 2, 5, 8];
  const { cos, sin } = T.ropeTables([0, 1, 2, 3, 7], D, 10000);
  await check('rope', [[B, H, Tn, D]], ([x]) => T.rope(x, x.graph.constant(cos, [Tn, D], 'float64'), x.graph.constant(sin, [Tn, D], 'float64')));
});

test('swiglu', async () => {
  await check('swiglu', [[2, 3, 8], [12, 8], [12, 8], [8, 12]], ([x, gate, up, down]) => T.swiglu(x, gate, up, down));
});

/** Mask rows: batch 0 left-padded by 2 (fully padded query rows), batch 1 right-padded by 1. */
const mask_B_T = [0, 0, 1, 1, 1, 1, 1, 1, 1, 0];

for (const [H, K] of [[4, 2], [2, 2], [4, 1]]) {
  test(`groupedAttention H=${H} K=${K} with causal + padding bias`, async () => {
    const [B, Tn, D] = [2, 5, 4];
    const floats = { mask: { shape: [B, Tn], values: mask_B_T } };
    const fn: Fn = ([q, k, v], { mask }) => {
      const bias = T.add(T.causalBias(q.graph, H / K, Tn), T.paddingBias(mask));
      const out = T.groupedAttention(q, k, v, bias);
      // padded query rows are dropped (as a loss would): a fully padded row's softmax over -1e9 + s has
      // float64 rounding of ~1e-7 in its logits, which finite differences cannot resolve
      return T.mul(out, T.reshape(mask, [B, 1, Tn, 1]));
    };
    await check(`attention H=${H} K=${K}`, [[B, H, Tn, D], [B, K, Tn, D], [B, K, Tn, D]], fn, { floats, maxProbes: 40 });
  });
}

test('contextAttention over a shared prefix', async () => {
  const [B, H, K, N, S, D] = [2, 4, 2, 3, 2, 4];
  const floats = { mask: { shape: [B, N], values: [1, 1, 1, 1, 1, 0] } };
  const fn: Fn = ([q, kc, vc, kn, vn], { mask }) => {
    const biasNew = T.add(T.causalBias(q.graph, H / K, N), T.paddingBias(mask));
    return T.contextAttention(q, { k: kc, v: vc, bias: null }, kn, vn, biasNew);
  };
  await check('contextAttention', [[B, H, N, D], [1, K, S, D], [1, K, S, D], [B, K, N, D], [B, K, N, D]], fn, { floats, maxProbes: 32 });
});
