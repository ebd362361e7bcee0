/**
 * Transformer building blocks composed from primitives (their gradients come from the primitives' rules):
 * RMSNorm, rotary embeddings (rotate-half, as HF Llama), SwiGLU, and causal attention with grouped-query heads
 * and a key padding mask.
 *
 * Dimension letters: B batch, T sequence, C model width, H query heads, K key/value heads, D head width.
 */
import { ShapeError } from '../../errors.ts';
import { fmt, type Graph, type Tensor } from '../graph.ts';
import { add, mul, neg, reciprocal, silu, sqrt, sub } from './elementwise.ts';
import { linear, matmul } from './linalg.ts';
import { softmax } from './nn.ts';
import { reduceMean } from './reduce.ts';
import { concat, reshape, slice } from './shape.ts';

/** Additive bias for masked attention scores; large and finite so fully masked rows stay NaN-free. */
export const MASKED = -1e9;

/** x * rsqrt(mean(x^2) + eps) * weight, over the last axis. x: [..., C], weight: [C]. */
export function rmsNorm(x: Tensor, weight: Tensor, eps: number): Tensor {
  const meanSquare = reduceMean(mul(x, x), -1, true); // [..., 1]
  return mul(mul(x, reciprocal(sqrt(add(meanSquare, eps)))), weight);
}

/** cos and sin tables [T, D] for positions `positions` (HF layout: the D/2 frequencies repeated twice). */
export function ropeTables(positions: readonly number[], headDim: number, theta: number): { cos: Float64Array; sin: Float64Array } {
  const half = headDim / 2;
  const cos = new Float64Array(positions.length * headDim);
  const sin = new Float64Array(positions.length * headDim);
  positions.forEach((p, t) => {
    for (let i = 0; i < half; i++) {
      const angle = p / Math.pow(theta, (2 * i) / headDim);
      for (const j of [i, i + half]) {
        cos[t * headDim + j] = Math.cos(angle);
        sin[t * headDim + j] = Math.sin(angle);
      }
    }
  });
  return { cos, sin };
}

/** Rotary embedding, rotate-half convention. x: [B, H, T, D]; cos, sin broadcast to it (e.g. [T, D]). */
export function rope(x: Tensor, cos: Tensor, sin: Tensor): Tensor {
  const d = x.shape[x.rank - 1];
  if (d % 2 !== 0) throw new ShapeError(`rope: head width ${d} of ${x.name}${fmt(x.shape)} must be even`);
  const x1 = slice(x, -1, 0, d / 2);
  const x2 = slice(x, -1, d / 2, d);
  const rotated = concat([neg(x2), x1], -1);
  return add(mul(x, cos), mul(rotated, sin));
}

/** SwiGLU feed-forward: down(silu(gate(x)) * up(x)). Weights in HF layout [out, in]. */
export function swiglu(x: Tensor, gate: Tensor, up: Tensor, down: Tensor): Tensor {
  return linear(mul(silu(linear(x, gate)), linear(x, up)), down);
}

/** Additive key-padding bias [B, 1, 1, T] from a float mask [B, T] (1 = real token, 0 = padding). */
export function paddingBias(mask_B_T: Tensor): Tensor {
  const [B, T] = mask_B_T.shape;
  return reshape(mul(sub(mask_B_T, 1), -MASKED), [B, 1, 1, T]);
}

/**
 * Causal bias for grouped-query attention computed as [B, K, R*T, T] scores (R = H / K query heads per
 * key/value head, stacked along the query axis): row r*T + i may see keys 0..i.
 */
export function causalBias(g: Graph, groups: number, T: number): Tensor {
  const bias = new Float64Array(groups * T * T);
  for (let r = 0; r < groups; r++) {
    for (let i = 0; i < T; i++) {
      for (let j = i + 1; j < T; j++) bias[(r * T + i) * T + j] = MASKED;
    }
  }
  return g.constant(g.float === 'float32' ? Float32Array.from(bias) : bias, [groups * T, T]);
}

/**
 * Causal grouped-query attention. q: [B, H, T, D]; k, v: [B, K, T, D]; bias: additive, broadcastable to
 * [B, K, R*T, T] (causal, plus padding). Query head h uses key/value head floor(h / R), as HF's repeat_kv.
 * The R query heads of a group are stacked along the query axis, so K and V are never copied R times.
 */
export function groupedAttention(q: Tensor, k: Tensor, v: Tensor, bias: Tensor): Tensor {
  const [B, H, T, D] = q.shape;
  const K = k.shape[1];
  if (H % K !== 0 || k.shape[0] !== B || k.shape[2] !== T || k.shape[3] !== D) {
    throw new ShapeError(`attention: q ${fmt(q.shape)} and k ${fmt(k.shape)} do not form grouped-query heads`);
  }
  if (v.rank !== 4 || v.shape.some((d, i) => d !== k.shape[i])) throw new ShapeError(`attention: v ${fmt(v.shape)} must match k ${fmt(k.shape)}`);
  const R = H / K;
  const qStacked = reshape(q, [B, K, R * T, D]);
  const scores = matmul(qStacked, k, { transB: true, alpha: 1 / Math.sqrt(D) }); // [B, K, R*T, T]
  const probs = softmax(add(scores, bias));
  const out = matmul(probs, v); // [B, K, R*T, D]
  return reshape(out, [B, H, T, D]);
}

/**
 * Grouped-query attention of new queries over a context (cached or shared-prefix keys/values) plus the new
 * tokens themselves, joined by one softmax. q: [B, H, N, D]; kCtx, vCtx: [B or 1, K, S, D] (1 broadcasts one
 * shared prefix to every row); kNew, vNew: [B, K, N, D]; biasCtx broadcastable to [B, K, R*N, S] (or null: the
 * whole context is visible); biasNew broadcastable to [B, K, R*N, N] (causal + padding among the new tokens).
 */
export function contextAttention(
  q: Tensor,
  ctx: { k: Tensor; v: Tensor; bias: Tensor | null },
  kNew: Tensor,
  vNew: Tensor,
  biasNew: Tensor,
): Tensor {
  const [B, H, N, D] = q.shape;
  const K = kNew.shape[1];
  const S = ctx.k.shape[2];
  if (H % K !== 0 || ctx.k.shape[1] !== K || ctx.k.shape[3] !== D) {
    throw new ShapeError(`context attention: q ${fmt(q.shape)}, context k ${fmt(ctx.k.shape)}, new k ${fmt(kNew.shape)}`);
  }
  const q_B_K_RN_D = reshape(q, [B, K, (H / K) * N, D]);
  const alpha = 1 / Math.sqrt(D);
  const rawCtx = matmul(q_B_K_RN_D, ctx.k, { transB: true, alpha }); // [B, K, R*N, S]
  const scoresCtx = ctx.bias ? add(rawCtx, ctx.bias) : rawCtx;
  const scoresNew = add(matmul(q_B_K_RN_D, kNew, { transB: true, alpha }), biasNew); // [B, K, R*N, N]
  const probs = softmax(concat([scoresCtx, scoresNew], -1));
  const mixed = add(matmul(slice(probs, -1, 0, S), ctx.v), matmul(slice(probs, -1, S, S + N), vNew));
  return reshape(mixed, [B, H, N, D]);
}
