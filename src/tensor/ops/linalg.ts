/**
 * Matrix multiply with optional transposes of either operand and a scale: C = alpha * op(A) @ op(B), op =
 * identity or transpose of the last two axes (alpha folds e.g. attention's 1/sqrt(D) into the GEMM for free). Leading (batch) axes broadcast. Rank 2 emits Gemm; batched emits MatMul, or ORT's
 * com.microsoft FusedMatMul when a transpose is asked for (no separate Transpose copy).
 */
import { ShapeError } from '../../errors.ts';
import { broadcastShapes, fmt, Tensor } from '../graph.ts';
import { defineOp, type EmitContext } from '../op.ts';
import { add, floatInputs } from './elementwise.ts';
import { sumTo } from './reduce.ts';
import { reshape } from './shape.ts';

export interface MatmulAttrs {
  transA: boolean;
  transB: boolean;
  alpha: number;
}

export const MatmulOp = defineOp<MatmulAttrs>({
  name: 'matmul',
  infer: ([a, b], { transA, transB }) => {
    const dtype = floatInputs('matmul', [a, b]);
    if (a.rank < 2 || b.rank < 2) throw new ShapeError(`matmul: needs operands of rank >= 2, got ${a}, ${b}`);
    const [m, k] = transA ? [a.shape[a.rank - 1], a.shape[a.rank - 2]] : [a.shape[a.rank - 2], a.shape[a.rank - 1]];
    const [k2, n] = transB ? [b.shape[b.rank - 1], b.shape[b.rank - 2]] : [b.shape[b.rank - 2], b.shape[b.rank - 1]];
    if (k !== k2) {
      const tag = `${transA ? 'A^T' : 'A'} @ ${transB ? 'B^T' : 'B'}`;
      throw new ShapeError(`matmul ${tag}: inner dimensions differ: ${a.name}${fmt(a.shape)} and ${b.name}${fmt(b.shape)}`);
    }
    const batch = broadcastShapes('matmul', a.shape.slice(0, -2), b.shape.slice(0, -2));
    return [{ shape: [...batch, m, n], dtype }];
  },
  emit: (ctx, [a, b], [c], { transA, transB, alpha }, [ta, tb]) => {
    const flags = { transA: transA ? 1 : 0, transB: transB ? 1 : 0, alpha: { float: alpha } };
    if (ta.rank === 2 && tb.rank === 2) {
      ctx.node('Gemm', [a, b], [c], flags);
    } else if (!transA && !transB && alpha === 1) {
      ctx.node('MatMul', [a, b], [c]);
    } else if (ta.dtype === 'float64') {
      emitFloat64Batched(ctx, a, b, c, { transA, transB, alpha }, ta.rank, tb.rank);
    } else {
      ctx.node('FusedMatMul', [a, b], [c], flags, 'com.microsoft');
    }
  },
  grad: ([a, b], _outs, [dc], { transA, transB, alpha }) => {
    if (!dc) return [null, null];
    // With A' = op(A), B' = op(B): dA' = alpha dC B'^T and dB' = alpha A'^T dC; transposed back where op transposed.
    const da = a.requiresGrad
      ? transA
        ? matmul(b, dc, { transA: transB, transB: true, alpha })
        : matmul(dc, b, { transB: !transB, alpha })
      : null;
    const db = b.requiresGrad
      ? transB
        ? matmul(dc, a, { transA: true, transB: transA, alpha })
        : matmul(a, dc, { transA: !transA, alpha })
      : null;
    return [da ? sumTo(da, a.shape) : null, db ? sumTo(db, b.shape) : null];
  },
});

/** ORT's FusedMatMul is float32-only: the float64 test graphs transpose and scale explicitly. */
function emitFloat64Batched(
  ctx: EmitContext,
  a: string,
  b: string,
  c: string,
  { transA, transB, alpha }: MatmulAttrs,
  rankA: number,
  rankB: number,
): void {
  const at = transA ? ctx.temp('aT') : a;
  const bt = transB ? ctx.temp('bT') : b;
  if (transA) ctx.node('Transpose', [a], [at], { perm: lastTwoSwapped(rankA) });
  if (transB) ctx.node('Transpose', [b], [bt], { perm: lastTwoSwapped(rankB) });
  if (alpha === 1) return ctx.node('MatMul', [at, bt], [c]);
  const product = ctx.temp('product');
  ctx.node('MatMul', [at, bt], [product]);
  ctx.node('Mul', [product, ctx.float64(alpha)], [c]);
}

function lastTwoSwapped(rank: number): number[] {
  const perm = [...Array(rank).keys()];
  [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1], perm[rank - 2]];
  return perm;
}

export function matmul(a: Tensor, b: Tensor, opts: Partial<MatmulAttrs> = {}): Tensor {
  const attrs = { transA: opts.transA ?? false, transB: opts.transB ?? false, alpha: opts.alpha ?? 1 };
  return a.graph.apply(MatmulOp, [a, b], attrs)[0];
}

/**
 * y = x @ W^T (+ bias): the HF Linear layer with W stored [out, in]. x may have any leading axes; they are
 * flattened so forward and both gradients are single 2-D Gemms (no batched weight-gradient reduction).
 */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor): Tensor {
  const lead = x.shape.slice(0, -1);
  const x2 = x.rank === 2 ? x : reshape(x, [-1, x.shape[x.rank - 1]]);
  const y2 = matmul(x2, weight, { transB: true });
  const y = x.rank === 2 ? y2 : reshape(y2, [...lead, weight.shape[0]]);
  return bias ? add(y, bias) : y;
}
