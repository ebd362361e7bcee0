/**
 * Naive float64 references, written with plain loops and independently of the tensor engine and ONNX: the
 * forward tests compare the engine's float32 graphs with these. Arrays are row-major; shapes are passed
 * explicitly.
 */

export type Arr = ArrayLike<number>;

export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
  alpha?: number;
}

/**
 * C = alpha * op(A) @ op(B) for A [batchA, ra, ca] and B [batchB, rb, cb] (rank 2 = batch 1); a batch of 1
 * broadcasts. op transposes the last two axes. Returns C [batch, m, n] and its shape.
 */
export function matmul(a: Arr, aShape: number[], b: Arr, bShape: number[], opts: MatmulOptions = {}) {
  const [ba, ra, ca] = aShape.length === 2 ? [1, ...aShape] : aShape;
  const [bb, rb, cb] = bShape.length === 2 ? [1, ...bShape] : bShape;
  const { transA = false, transB = false, alpha = 1 } = opts;
  const [m, k] = transA ? [ca, ra] : [ra, ca];
  const [k2, n] = transB ? [cb, rb] : [rb, cb];
  if (k !== k2) throw new Error(`naive matmul: inner ${k} vs ${k2}`);
  const batch = Math.max(ba, bb);
  const out = new Float64Array(batch * m * n);
  for (let s = 0; s < batch; s++) {
    const aOff = (ba === 1 ? 0 : s) * ra * ca;
    const bOff = (bb === 1 ? 0 : s) * rb * cb;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let acc = 0;
        for (let p = 0; p < k; p++) {
          const av = transA ? a[aOff + p * ca + i] : a[aOff + i * ca + p];
          const bv = transB ? b[bOff + j * cb + p] : b[bOff + p * cb + j];
          acc += av * bv;
        }
        out[(s * m + i) * n + j] = alpha * acc;
      }
    }
  }
  const shape = aShape.length === 2 && bShape.length === 2 ? [m, n] : [batch, m, n];
  return { data: out, shape };
}

/** log softmax over rows of width n: x - max - log(sum(exp(x - max))). */
export function logSoftmax(x: Arr, n: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let r = 0; r < x.length / n; r++) {
    let max = -Infinity;
    for (let j = 0; j < n; j++) max = Math.max(max, x[r * n + j]);
    let sum = 0;
    for (let j = 0; j < n; j++) sum += Math.exp(x[r * n + j] - max);
    const logSum = Math.log(sum);
    for (let j = 0; j < n; j++) out[r * n + j] = x[r * n + j] - max - logSum;
  }
  return out;
}

/** softmax over rows of width n. */
export function softmax(x: Arr, n: number): Float64Array {
  return logSoftmax(x, n).map(Math.exp);
}

/** x / sqrt(mean(x^2) + eps) * weight over rows of width C = weight.length. */
export function rmsNorm(x: Arr, weight: Arr, eps: number): Float64Array {
  const C = weight.length;
  const out = new Float64Array(x.length);
  for (let r = 0; r < x.length / C; r++) {
    let ss = 0;
    for (let c = 0; c < C; c++) ss += x[r * C + c] * x[r * C + c];
    const inv = 1 / Math.sqrt(ss / C + eps);
    for (let c = 0; c < C; c++) out[r * C + c] = x[r * C + c] * inv * weight[c];
  }
  return out;
}

/**
 * Rotary embedding, rotate-half (HF Llama) convention, on x [B, H, T, D] at `positions` [T]:
 * out[d] = x[d] cos(a) - x[d + D/2] sin(a) for d < D/2, out[d] = x[d] cos(a) + x[d - D/2] sin(a) otherwise,
 * with a = position * theta^(-2i/D) for frequency i = d mod D/2.
 */
export function rope(x: Arr, [B, H, T, D]: number[], positions: number[], theta: number): Float64Array {
  const half = D / 2;
  const out = new Float64Array(x.length);
  for (let bh = 0; bh < B * H; bh++) {
    for (let t = 0; t < T; t++) {
      const row = (bh * T + t) * D;
      for (let i = 0; i < half; i++) {
        const angle = positions[t] * Math.pow(theta, (-2 * i) / D);
        const [c, s] = [Math.cos(angle), Math.sin(angle)];
        const x1 = x[row + i];
        const x2 = x[row + i + half];
        out[row + i] = x1 * c - x2 * s;
        out[row + i + half] = x2 * c + x1 * s;
      }
    }
  }
  return out;
}

export interface AttentionDims {
  B: number;
  H: number;
  K: number;
  T: number;
  D: number;
}

/**
 * Causal grouped-query attention with a key padding mask [B, T] (1 = real). q [B, H, T, D], k and v
 * [B, K, T, D]; query head h reads key/value head floor(h / (H / K)); query i sees keys j <= i with mask 1.
 * `hasKeys[(b * H + h) * T + i]` is false for rows that see no key (fully padded); their output is NaN.
 */
export function attention(q: Arr, k: Arr, v: Arr, { B, H, K, T, D }: AttentionDims, mask: Arr) {
  const out = new Float64Array(B * H * T * D);
  const hasKeys: boolean[] = [];
  const scale = 1 / Math.sqrt(D);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const kvh = Math.floor(h / (H / K));
      const qBase = (b * H + h) * T * D;
      const kvBase = (b * K + kvh) * T * D;
      for (let i = 0; i < T; i++) {
        const visible: number[] = [];
        for (let j = 0; j <= i; j++) if (mask[b * T + j] === 1) visible.push(j);
        hasKeys.push(visible.length > 0);
        const scores = visible.map((j) => {
          let dot = 0;
          for (let d = 0; d < D; d++) dot += q[qBase + i * D + d] * k[kvBase + j * D + d];
          return dot * scale;
        });
        const max = Math.max(...scores);
        const weights = scores.map((s) => Math.exp(s - max));
        const total = weights.reduce((x, y) => x + y, 0);
        for (let d = 0; d < D; d++) {
          let acc = 0;
          visible.forEach((j, n) => (acc += (weights[n] / total) * v[kvBase + j * D + d]));
          out[qBase + i * D + d] = visible.length ? acc : NaN;
        }
      }
    }
  }
  return { out, hasKeys };
}

/** log p(target) per row of logits [rows, V]. */
export function tokenLogprobs(logits: Arr, V: number, targets: Arr): Float64Array {
  const lp = logSoftmax(logits, V);
  return Float64Array.from(targets, (t, r) => lp[r * V + t]);
}
