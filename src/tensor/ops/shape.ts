/**
 * Shape ops: reshape, transpose, concat, slice (and its adjoint pad), cast.
 */
import { ShapeError } from '../../errors.ts';
import { type DType, fmt, numel, type Shape, Tensor } from '../graph.ts';
import { defineOp } from '../op.ts';
import { normalizeAxes } from './reduce.ts';

export const ReshapeOp = defineOp<{ shape: number[] }>({
  name: 'reshape',
  infer: ([x], { shape }) => [{ shape, dtype: x.dtype }],
  emit: (ctx, [x], [y], { shape }) => ctx.node('Reshape', [x, ctx.int64s(shape)], [y]),
  grad: ([x], _outs, [dy]) => [dy ? reshape(dy, x.shape) : null],
});

export const TransposeOp = defineOp<{ perm: number[] }>({
  name: 'transpose',
  infer: ([x], { perm }) => {
    const sorted = [...perm].sort((a, b) => a - b);
    if (perm.length !== x.rank || sorted.some((p, i) => p !== i)) {
      throw new ShapeError(`transpose: perm [${perm.join(',')}] does not fit ${x.name}${fmt(x.shape)}`);
    }
    return [{ shape: perm.map((p) => x.shape[p]), dtype: x.dtype }];
  },
  emit: (ctx, [x], [y], { perm }) => ctx.node('Transpose', [x], [y], { perm }),
  grad: (_ins, _outs, [dy], { perm }) => {
    if (!dy) return [null];
    const inverse = new Array<number>(perm.length);
    perm.forEach((p, i) => (inverse[p] = i));
    return [transpose(dy, inverse)];
  },
});

export const ConcatOp = defineOp<{ axis: number }>({
  name: 'concat',
  infer: (inputs, { axis }) => {
    const first = inputs[0];
    let total = 0;
    for (const t of inputs) {
      const fits = t.rank === first.rank && t.dtype === first.dtype && t.shape.every((d, i) => i === axis || d === first.shape[i]);
      if (!fits) throw new ShapeError(`concat: ${fmt(first.shape)} and ${fmt(t.shape)} differ off axis ${axis}`);
      total += t.shape[axis];
    }
    return [{ shape: first.shape.map((d, i) => (i === axis ? total : d)), dtype: first.dtype }];
  },
  emit: (ctx, ins, outs, { axis }) => ctx.node('Concat', ins, outs, { axis }),
  grad: (inputs, _outs, [dy], { axis }) => {
    if (!dy) return inputs.map(() => null);
    let start = 0;
    return inputs.map((t) => {
      const piece = t.requiresGrad ? slice(dy, axis, start, start + t.shape[axis]) : null;
      start += t.shape[axis];
      return piece;
    });
  },
});

interface SliceAttrs {
  axis: number;
  start: number;
  end: number;
}

export const SliceOp = defineOp<SliceAttrs>({
  name: 'slice',
  infer: ([x], { axis, start, end }) => {
    if (start < 0 || end > x.shape[axis] || start > end) {
      throw new ShapeError(`slice: [${start}, ${end}) outside axis ${axis} of ${x.name}${fmt(x.shape)}`);
    }
    return [{ shape: x.shape.map((d, i) => (i === axis ? end - start : d)), dtype: x.dtype }];
  },
  emit: (ctx, [x], [y], { axis, start, end }) =>
    ctx.node('Slice', [x, ctx.int64s([start]), ctx.int64s([end]), ctx.int64s([axis])], [y]),
  grad: ([x], _outs, [dy], { axis, start, end }) => [dy ? pad(dy, axis, start, x.shape[axis] - end) : null],
});

interface PadAttrs {
  axis: number;
  before: number;
  after: number;
}

/** Zero padding along one axis: the adjoint of slice. */
export const PadOp = defineOp<PadAttrs>({
  name: 'pad',
  infer: ([x], { axis, before, after }) => [
    { shape: x.shape.map((d, i) => (i === axis ? d + before + after : d)), dtype: x.dtype },
  ],
  // opset 18 Pad with an axes input: pads = [before, after] for that one axis; empty name = zero fill
  emit: (ctx, [x], [y], { axis, before, after }) =>
    ctx.node('Pad', [x, ctx.int64s([before, after]), '', ctx.int64s([axis])], [y]),
  grad: (_ins, _outs, [dy], { axis, before, after }) => [dy ? slice(dy, axis, before, dy.shape[axis] - after) : null],
});

export const CastOp = defineOp<{ to: DType }>({
  name: 'cast',
  infer: ([x], { to }) => [{ shape: x.shape, dtype: to }],
  emit: (ctx, [x], [y], { to }) => ctx.node('Cast', [x], [y], { to: ONNX_DTYPE[to] }),
});

export const ONNX_DTYPE: Record<DType, number> = { float32: 1, float64: 11, int64: 7, bool: 9 };

/** Reshape; one dimension may be -1. */
export function reshape(x: Tensor, shape: Shape): Tensor {
  const known = shape.filter((d) => d !== -1);
  const inferred = shape.length - known.length;
  if (inferred > 1) throw new ShapeError(`reshape: more than one -1 in ${fmt(shape)}`);
  if (known.some((d) => d < 0 || !Number.isInteger(d))) throw new ShapeError(`reshape: cannot reshape ${x.name}${fmt(x.shape)} to ${fmt(shape)}`);
  const rest = numel(known);
  const full = shape.map((d) => (d === -1 ? x.size / rest : d));
  if (numel(full) !== x.size || full.some((d) => !Number.isInteger(d))) {
    throw new ShapeError(`reshape: cannot reshape ${x.name}${fmt(x.shape)} to ${fmt(shape)}`);
  }
  if (full.length === x.rank && full.every((d, i) => d === x.shape[i])) return x;
  return x.graph.apply(ReshapeOp, [x], { shape: full })[0];
}

export function transpose(x: Tensor, perm: number[]): Tensor {
  if (perm.every((p, i) => p === i) && perm.length === x.rank) return x;
  return x.graph.apply(TransposeOp, [x], { perm })[0];
}

export function concat(xs: Tensor[], axis: number): Tensor {
  if (xs.length === 0) throw new ShapeError('concat: no inputs');
  if (xs.length === 1) return xs[0];
  const [a] = normalizeAxes('concat', [axis], xs[0].rank);
  return xs[0].graph.apply(ConcatOp, xs, { axis: a })[0];
}

/** x[..., start:end, ...] along `axis` (negative axis allowed; negative start/end count from the end). */
export function slice(x: Tensor, axis: number, start: number, end: number): Tensor {
  const [a] = normalizeAxes('slice', [axis], x.rank);
  const n = x.shape[a];
  const s = start < 0 ? start + n : start;
  const e = end < 0 ? end + n : Math.min(end, n);
  if (s === 0 && e === n) return x;
  return x.graph.apply(SliceOp, [x], { axis: a, start: s, end: e })[0];
}

export function pad(x: Tensor, axis: number, before: number, after: number): Tensor {
  const [a] = normalizeAxes('pad', [axis], x.rank);
  if (before < 0 || after < 0) throw new ShapeError(`pad: negative amounts ${before}, ${after}`);
  if (before === 0 && after === 0) return x;
  return x.graph.apply(PadOp, [x], { axis: a, before, after })[0];
}

export function cast(x: Tensor, to: DType): Tensor {
  if (x.dtype === to) return x;
  return x.graph.apply(CastOp, [x], { to })[0];
}
