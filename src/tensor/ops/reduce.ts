/**
 * Reductions and broadcasting: ReduceSum/Mean/Max over axes, Expand, and sumTo (the adjoint of broadcasting).
 */
import { ShapeError } from '../../errors.ts';
import { fmt, type Shape, Tensor } from '../graph.ts';
import { defineOp } from '../op.ts';
import { floatInputs, mul } from './elementwise.ts';
import { reshape } from './shape.ts';

interface ReduceAttrs {
  axes: number[];
  keepDims: boolean;
}

export function normalizeAxes(opName: string, axes: readonly number[], rank: number): number[] {
  const out = axes.map((a) => (a < 0 ? a + rank : a));
  out.forEach((a, i) => {
    if (!Number.isInteger(a) || a < 0 || a >= rank) throw new ShapeError(`${opName}: axis ${axes[i]} out of range for rank ${rank}`);
  });
  return [...new Set(out)].sort((x, y) => x - y);
}

function reducedShape(shape: Shape, axes: number[], keepDims: boolean): number[] {
  const out: number[] = [];
  shape.forEach((d, i) => {
    if (!axes.includes(i)) out.push(d);
    else if (keepDims) out.push(1);
  });
  return out;
}

function reduceOp(name: string, onnxType: string, differentiable: boolean) {
  return defineOp<ReduceAttrs>({
    name,
    infer: ([x], { axes, keepDims }) => {
      return [{ shape: reducedShape(x.shape, axes, keepDims), dtype: floatInputs(name, [x]) }];
    },
    emit: (ctx, [x], [y], { axes, keepDims }) =>
      ctx.node(onnxType, [x, ctx.int64s(axes)], [y], { keepdims: keepDims ? 1 : 0 }),
    grad: differentiable
      ? ([x], _outs, [dy], { axes }) => {
          if (!dy) return [null];
          const scale = name === 'reduce_mean' ? 1 / axes.reduce((n, a) => n * x.shape[a], 1) : 1;
          const kept = reshape(dy, reducedShape(x.shape, axes, true));
          const spread = expand(kept, x.shape);
          return [scale === 1 ? spread : mul(spread, scale)];
        }
      : undefined,
  });
}

export const ReduceSumOp = reduceOp('reduce_sum', 'ReduceSum', true);
export const ReduceMeanOp = reduceOp('reduce_mean', 'ReduceMean', true);
/** Max has no gradient here: it is only used for numerically safe shifts that are stop-gradient anyway. */
export const ReduceMaxOp = reduceOp('reduce_max', 'ReduceMax', false);

/** Broadcast to a larger shape (numpy rules). Gradient: sum back to the input shape. */
export const ExpandOp = defineOp<{ shape: number[] }>({
  name: 'expand',
  infer: ([x], { shape }) => {
    const offset = shape.length - x.rank;
    const ok = offset >= 0 && x.shape.every((d, i) => d === 1 || d === shape[offset + i]);
    if (!ok) throw new ShapeError(`expand: cannot expand ${fmt(x.shape)} to ${fmt(shape)}`);
    return [{ shape, dtype: x.dtype }];
  },
  emit: (ctx, [x], [y], { shape }) => ctx.node('Expand', [x, ctx.int64s(shape)], [y]),
  grad: ([x], _outs, [dy]) => [dy ? sumTo(dy, x.shape) : null],
});

function reduce(op: typeof ReduceSumOp, x: Tensor, axes: number | number[] | undefined, keepDims: boolean): Tensor {
  const list = axes === undefined ? x.shape.map((_, i) => i) : Array.isArray(axes) ? axes : [axes];
  const norm = normalizeAxes(op.name, list, x.rank);
  if (norm.length === 0) return x;
  return x.graph.apply(op, [x], { axes: norm, keepDims })[0];
}

/** Sum over `axes` (all axes when omitted). */
export const reduceSum = (x: Tensor, axes?: number | number[], keepDims = false): Tensor =>
  reduce(ReduceSumOp, x, axes, keepDims);
export const reduceMean = (x: Tensor, axes?: number | number[], keepDims = false): Tensor =>
  reduce(ReduceMeanOp, x, axes, keepDims);
export const reduceMax = (x: Tensor, axes?: number | number[], keepDims = false): Tensor =>
  reduce(ReduceMaxOp, x, axes, keepDims);

export function expand(x: Tensor, shape: Shape): Tensor {
  if (x.rank === shape.length && x.shape.every((d, i) => d === shape[i])) return x;
  return x.graph.apply(ExpandOp, [x], { shape: [...shape] })[0];
}

/** Sums a broadcast result back down to `shape` (the gradient of broadcasting). */
export function sumTo(x: Tensor, shape: Shape): Tensor {
  if (x.rank === shape.length && x.shape.every((d, i) => d === shape[i])) return x;
  const lead = x.rank - shape.length;
  if (lead < 0) throw new ShapeError(`sum_to: cannot reduce ${fmt(x.shape)} to ${fmt(shape)}`);
  const axes: number[] = [];
  for (let i = 0; i < x.rank; i++) {
    if (i < lead || (shape[i - lead] === 1 && x.shape[i] !== 1)) axes.push(i);
  }
  const summed = axes.length ? reduceSum(x, axes, true) : x;
  return reshape(summed, shape);
}
