/**
 * The output head fused with the per-token log-prob of a target: logprob[n] = h[n] . W[t[n]] - logsumexp_v(h[n] . W[v]).
 * At a 128k vocabulary the logits [N, V] of a train batch are gigabytes, and log-softmax plus its gradient would
 * keep several copies. This op never keeps more than one vocabulary chunk [N, Vc] alive when N * V is large:
 *
 *   forward   per chunk c: z_c = h W_c^T, lse_c = logsumexp(z_c); lse = logsumexp_c(lse_c);
 *             logprob = h . W[t] - lse (the target logit by a row gather, not from the chunks)
 *   gradient  with dy [N] the gradient of logprob, p = exp(z - lse) = softmax:
 *             dz = -p dy (+ dy at the target, handled as the gather's adjoint), so
 *             dh = sum_c (-p_c dy) W_c + dy W[t],   dW_c = (-p_c dy)^T h,   dW[t] += dy h (scatter-add)
 *             z_c is recomputed per chunk in the gradient, transposed ([Vc, N] = W_c h^T), so ONNX Runtime's
 *             common-subexpression pass cannot merge it with the forward's chunk and keep that alive.
 *
 * When N * V is small (the default model, short train batches) one chunk is kept from the forward instead of
 * recomputed: `keep` (the logits are a third output that only the gradient reads).
 *
 * Dimension letters: N rows (tokens), C width, V vocabulary, Vc a chunk of it.
 */
import { ShapeError } from '../errors.ts';
import { fmt, numel, type Tensor } from '../tensor/graph.ts';
import { defineOp, type EmitContext } from '../tensor/op.ts';
import { reshape } from '../tensor/index.ts';

/** Above this many logits (N * V) a train batch's head is chunked and recomputed (2^25 floats = 128 MB). */
export const KEEP_LOGITS_LIMIT = 2 ** 25;
/** Elements of one chunk [N, Vc] when chunked (2^24 floats = 64 MB). */
export const CHUNK_ELEMENTS = 2 ** 24;
const MIN_CHUNK = 1024;

interface HeadAttrs {
  /** Vocabulary rows per chunk. */
  chunk: number;
  /** Keep the logits of a single chunk for the gradient instead of recomputing them. */
  keep: boolean;
}

interface HeadGradAttrs extends HeadAttrs {
  wantH: boolean;
  wantW: boolean;
}

function chunkRanges(V: number, chunk: number): [number, number][] {
  const out: [number, number][] = [];
  for (let a = 0; a < V; a += chunk) out.push([a, Math.min(V, a + chunk)]);
  return out;
}

/** W[a:b] as an ONNX value (W itself for the whole range). */
function rowsOf(ctx: EmitContext, w: string, V: number, [a, b]: [number, number]): string {
  if (a === 0 && b === V) return w;
  const out = ctx.temp('w_chunk');
  ctx.node('Slice', [w, ctx.int64s([a]), ctx.int64s([b]), ctx.int64s([0])], [out]);
  return out;
}

export const HeadLogprobsOp = defineOp<HeadAttrs>({
  name: 'head_logprobs',
  infer: ([h, w, t], { keep }) => {
    const ok = h.rank === 2 && w.rank === 2 && h.shape[1] === w.shape[1] && t.dtype === 'int64' && t.rank === 1 && t.shape[0] === h.shape[0];
    if (!ok || h.dtype !== w.dtype) {
      throw new ShapeError(`head_logprobs: needs h [N,C], W [V,C] and int64 targets [N], got ${h}, ${w}, ${t}`);
    }
    const [N] = h.shape;
    const out = [
      { shape: [N], dtype: h.dtype },
      { shape: [N, 1], dtype: h.dtype },
    ];
    if (keep) out.push({ shape: [N, w.shape[0]], dtype: h.dtype });
    return out;
  },
  emit: (ctx, [h, w, t], [logprob, lse, logits], { chunk, keep }, [hT, wT]) => {
    const [N] = hT.shape;
    const V = wT.shape[0];
    const ranges = chunkRanges(V, chunk);
    const parts = ranges.map((range) => {
      const z = keep ? logits : ctx.temp('z');
      ctx.node('Gemm', [h, rowsOf(ctx, w, V, range)], [z], { transB: 1 });
      const l = ranges.length === 1 ? lse : ctx.temp('lse_chunk');
      ctx.node('ReduceLogSumExp', [z, ctx.int64s([1])], [l], { keepdims: 1 });
      return l;
    });
    if (ranges.length > 1) {
      const all = ctx.temp('lse_all');
      ctx.node('Concat', parts, [all], { axis: 1 });
      ctx.node('ReduceLogSumExp', [all, ctx.int64s([1])], [lse], { keepdims: 1 });
    }
    const rows = ctx.temp('target_rows');
    const prod = ctx.temp('target_prod');
    const target = ctx.temp('target_logit');
    const lseFlat = ctx.temp('lse_flat');
    ctx.node('Gather', [w, t], [rows], { axis: 0 });
    ctx.node('Mul', [h, rows], [prod]);
    ctx.node('ReduceSum', [prod, ctx.int64s([1])], [target], { keepdims: 0 });
    ctx.node('Reshape', [lse, ctx.int64s([N])], [lseFlat]);
    ctx.node('Sub', [target, lseFlat], [logprob]);
  },
  grad: ([h, w, t], [, lse, logits], [dy], attrs) => {
    if (!dy || (!h.requiresGrad && !w.requiresGrad)) return [null, null, null];
    const inputs = [h, w, t, lse, dy, ...(attrs.keep ? [logits] : [])];
    const [dh, dw] = h.graph.apply(HeadLogprobsGradOp, inputs, { ...attrs, wantH: h.requiresGrad, wantW: w.requiresGrad });
    return [h.requiresGrad ? dh : null, w.requiresGrad ? dw : null, null];
  },
});

/** The gradient of head_logprobs (see the module comment); emits only the outputs asked for. */
export const HeadLogprobsGradOp = defineOp<HeadGradAttrs>({
  name: 'head_logprobs_grad',
  infer: ([h, w]) => [
    { shape: h.shape, dtype: h.dtype },
    { shape: w.shape, dtype: w.dtype },
  ],
  emit: (ctx, [h, w, t, lse, dy, logits], [dh, dw], { chunk, keep, wantH, wantW }, [hT, wT]) => {
    const [N, C] = hT.shape;
    const V = wT.shape[0];
    const dyCol = ctx.temp('dy_col');
    const negDy = ctx.temp('neg_dy');
    ctx.node('Reshape', [dy, ctx.int64s([N, 1])], [dyCol]);
    ctx.node('Neg', [dyCol], [negDy]);
    const ranges = chunkRanges(V, chunk);
    const dhParts: string[] = [];
    const dwParts: string[] = [];
    for (const range of ranges) {
      const wc = rowsOf(ctx, w, V, range);
      // g = -softmax * dy, as [N, Vc] when kept, else recomputed transposed as [Vc, N]
      const z = keep ? logits : ctx.temp('zT');
      if (!keep) ctx.node('Gemm', [wc, h], [z], { transB: 1 });
      const lseAligned = keep ? lse : ctx.temp('lse_row');
      if (!keep) ctx.node('Reshape', [lse, ctx.int64s([1, N])], [lseAligned]);
      const shifted = ctx.temp('shifted');
      const p = ctx.temp('p');
      const g = ctx.temp('g');
      ctx.node('Sub', [z, lseAligned], [shifted]);
      ctx.node('Exp', [shifted], [p]);
      const dyAligned = keep ? negDy : ctx.temp('neg_dy_row');
      if (!keep) ctx.node('Reshape', [negDy, ctx.int64s([1, N])], [dyAligned]);
      ctx.node('Mul', [p, dyAligned], [g]);
      if (wantH) {
        const part = ctx.temp('dh_part');
        ctx.node('Gemm', [g, wc], [part], keep ? {} : { transA: 1 });
        dhParts.push(part);
      }
      if (wantW) {
        const part = ctx.temp('dw_part');
        ctx.node('Gemm', [g, h], [part], keep ? { transA: 1 } : {});
        dwParts.push(part);
      }
    }
    const rows = ctx.temp('target_rows');
    if (wantH) {
      ctx.node('Gather', [w, t], [rows], { axis: 0 });
      const direct = ctx.temp('dh_target');
      ctx.node('Mul', [rows, dyCol], [direct]);
      ctx.node('Sum', [...dhParts, direct], [dh]);
    }
    if (wantW) {
      const dense = dwParts.length === 1 ? dwParts[0] : ctx.temp('dw_dense');
      if (dwParts.length > 1) ctx.node('Concat', dwParts, [dense], { axis: 0 });
      const idx = ctx.temp('target_idx');
      const idx2 = ctx.temp('target_idx_c');
      const updates = ctx.temp('dw_target');
      ctx.node('Reshape', [t, ctx.int64s([N, 1])], [idx]);
      ctx.node('Expand', [idx, ctx.int64s([N, C])], [idx2]);
      ctx.node('Mul', [h, dyCol], [updates]);
      ctx.node('ScatterElements', [dense, idx2, updates], [dw], { axis: 0, reduction: 'add' });
    }
  },
});

export interface HeadOptions {
  /** Force chunking with this many vocabulary rows per chunk (tests); default by size. */
  chunk?: number;
}

/**
 * log p(targets) [...] under logits = hidden [..., C] W^T, W [V, C], without keeping [N, V] whole when it is
 * large (see the module comment).
 */
export function headLogprobs(hidden: Tensor, weight: Tensor, targets: Tensor, opts: HeadOptions = {}): Tensor {
  const C = hidden.shape[hidden.rank - 1];
  const lead = hidden.shape.slice(0, -1);
  if (targets.rank !== lead.length || targets.shape.some((d, i) => d !== lead[i])) {
    throw new ShapeError(`head_logprobs: targets ${fmt(targets.shape)} do not fit hidden ${fmt(hidden.shape)}`);
  }
  const N = numel(lead);
  const V = weight.shape[0];
  const keep = opts.chunk === undefined && N * V <= KEEP_LOGITS_LIMIT;
  const chunk = opts.chunk ?? (keep ? V : Math.min(V, Math.max(MIN_CHUNK, Math.floor(CHUNK_ELEMENTS / Math.max(1, N)))));
  const [logprob] = hidden.graph.apply(HeadLogprobsOp, [reshape(hidden, [N, C]), weight, reshape(targets, [N])], { chunk, keep });
  return reshape(logprob, lead);
}
