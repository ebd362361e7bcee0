/**
 * Neural-net primitives with their own gradient rules: softmax, log-softmax, embedding gather, and gathering
 * one entry per row along the last axis (per-token log-probs of target ids). Their adjoints are scatters.
 */
import { ShapeError } from '../../errors.ts';
import { fmt, type Shape, Tensor } from '../graph.ts';
import { defineOp } from '../op.ts';
import { exp, floatInputs, mul, sub } from './elementwise.ts';
import { reduceSum } from './reduce.ts';
import { reshape } from './shape.ts';

function lastAxisFloat(name: string, x: Tensor) {
  if (x.rank < 1) throw new ShapeError(`${name}: ${x} must have rank >= 1`);
  return floatInputs(name, [x]);
}

/** log softmax over the last axis; dx = dy - softmax(x) * sum(dy). */
export const LogSoftmaxOp = defineOp<null>({
  name: 'log_softmax',
  infer: ([x]) => [{ shape: x.shape, dtype: lastAxisFloat('log_softmax', x) }],
  emit: (ctx, [x], [y]) => ctx.node('LogSoftmax', [x], [y], { axis: -1 }),
  grad: (_ins, [y], [dy]) => [dy ? sub(dy, mul(exp(y), reduceSum(dy, -1, true))) : null],
});

/** softmax over the last axis; dx = y * (dy - sum(dy * y)). */
export const SoftmaxOp = defineOp<null>({
  name: 'softmax',
  infer: ([x]) => [{ shape: x.shape, dtype: lastAxisFloat('softmax', x) }],
  emit: (ctx, [x], [y]) => ctx.node('Softmax', [x], [y], { axis: -1 }),
  grad: (_ins, [y], [dy]) => [dy ? mul(y, sub(dy, reduceSum(mul(dy, y), -1, true))) : null],
});

/** Rows of `table` [V, C] picked by int64 `ids` [...] -> [..., C]. Gradient: scatter-add into the table. */
export const EmbeddingOp = defineOp<null>({
  name: 'embedding',
  infer: ([table, ids]) => {
    if (table.rank !== 2 || ids.dtype !== 'int64') {
      throw new ShapeError(`embedding: needs table [V,C] and int64 ids, got ${table} and ${ids}`);
    }
    return [{ shape: [...ids.shape, table.shape[1]], dtype: table.dtype }];
  },
  emit: (ctx, [table, ids], [y]) => ctx.node('Gather', [table, ids], [y], { axis: 0 }),
  grad: ([table, ids], _outs, [dy]) => [dy ? embeddingGrad(dy, ids, table.shape) : null, null],
});

/** Scatter-add of row gradients dy [..., C] into zeros [V, C] at `ids`; the adjoint of embedding. */
export const EmbeddingGradOp = defineOp<{ tableShape: number[] }>({
  name: 'embedding_grad',
  infer: ([dy], { tableShape }) => [{ shape: tableShape, dtype: dy.dtype }],
  emit: (ctx, [dy, ids], [dTable], { tableShape }, [dyT]) => {
    const [, C] = tableShape;
    const n = dyT.size / C;
    const zeros = ctx.temp('zeros');
    const rows = ctx.temp('rows');
    const index = ctx.temp('index');
    const updates = ctx.temp('updates');
    ctx.node('ConstantOfShape', [ctx.int64s(tableShape)], [zeros], { value: { zero: dyT.dtype } });
    ctx.node('Reshape', [ids, ctx.int64s([n, 1])], [rows]);
    ctx.node('Expand', [rows, ctx.int64s([n, C])], [index]);
    ctx.node('Reshape', [dy, ctx.int64s([n, C])], [updates]);
    ctx.node('ScatterElements', [zeros, index, updates], [dTable], { axis: 0, reduction: 'add' });
  },
});

/** x[..., idx[..., 0]] for int64 idx [..., 1] -> [..., 1] (GatherElements on the last axis). */
export const GatherLastOp = defineOp<null>({
  name: 'gather_last',
  infer: ([x, idx]) => {
    const lead = x.shape.slice(0, -1);
    const ok = idx.dtype === 'int64' && idx.rank === x.rank && idx.shape[idx.rank - 1] === 1;
    if (!ok || lead.some((d, i) => d !== idx.shape[i])) {
      throw new ShapeError(`gather_last: index ${fmt(idx.shape)} does not fit ${x.name}${fmt(x.shape)}`);
    }
    return [{ shape: idx.shape, dtype: x.dtype }];
  },
  emit: (ctx, [x, idx], [y]) => ctx.node('GatherElements', [x, idx], [y], { axis: -1 }),
  grad: ([x, idx], _outs, [dy]) => [dy ? scatterLast(dy, idx, x.shape) : null, null],
});

/** zeros(shape) with dy [..., 1] written at idx along the last axis: the adjoint of gather_last. */
export const ScatterLastOp = defineOp<{ shape: number[] }>({
  name: 'scatter_last',
  infer: ([dy], { shape }) => [{ shape, dtype: dy.dtype }],
  emit: (ctx, [dy, idx], [y], { shape }, [dyT]) => {
    const zeros = ctx.temp('zeros');
    ctx.node('ConstantOfShape', [ctx.int64s(shape)], [zeros], { value: { zero: dyT.dtype } });
    ctx.node('ScatterElements', [zeros, idx, dy], [y], { axis: -1 });
  },
});

export const logSoftmax = (x: Tensor): Tensor => x.graph.apply(LogSoftmaxOp, [x], null)[0];
export const softmax = (x: Tensor): Tensor => x.graph.apply(SoftmaxOp, [x], null)[0];
export const embedding = (table: Tensor, ids: Tensor): Tensor => table.graph.apply(EmbeddingOp, [table, ids], null)[0];

function embeddingGrad(dy: Tensor, ids: Tensor, tableShape: Shape): Tensor {
  return dy.graph.apply(EmbeddingGradOp, [dy, ids], { tableShape: [...tableShape] })[0];
}

function scatterLast(dy: Tensor, idx: Tensor, shape: Shape): Tensor {
  return dy.graph.apply(ScatterLastOp, [dy, idx], { shape: [...shape] })[0];
}

/** x[..., idx[...]] for int64 idx with x's leading shape: one entry per row of the last axis. */
export function gatherLast(x: Tensor, idx: Tensor): Tensor {
  const idx1 = reshape(idx, [...idx.shape, 1]);
  const picked = x.graph.apply(GatherLastOp, [x, idx1], null)[0];
  return reshape(picked, idx.shape);
}

/** Per-token log-probabilities of `targets` [...] under `logits` [..., V]. */
export function tokenLogprobs(logits: Tensor, targets: Tensor): Tensor {
  return gatherLast(logSoftmax(logits), targets);
}
