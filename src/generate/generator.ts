/**
 * Batched generation with a key/value cache held on the host.
 *
 * 1. A prefix shared by every prompt (the challenger's Box 1 text, the judge's Box 3 text) is prefilled once for
 *    one row; its keys/values stay a separate one-row context that every row's attention reads (never copied
 *    into the rows' caches, read once per step instead of once per row).
 * 2. Each row's remaining prompt tokens are prefilled together (right-padded).
 * 3. Decode: one token per row per step until EOS, a stop condition or the token budget.
 * Each step runs the extend graph, which returns only the new keys/values; the host writes them into the cache.
 * The cache grows in steps of S_BUCKET slots as rows fill it (a step's cost is proportional to its slots), so
 * each cache size is one compiled graph, shared by every later call.
 */
import { InputError } from '../errors.ts';
import type { ModelEngine } from '../model/engine.ts';
import type { HostTensor } from '../runtime/runtime.ts';
import { MASKED, ropeTables } from '../tensor/index.ts';
import { Rng } from '../util/rng.ts';
import { buildExtendGraph, cacheName, newKvName, PREFIX_BIAS, prefixName } from './graphs.ts';
import { checkSamplingParams, sampleToken, type SamplingParams } from './sampler.ts';

export interface GenerateOptions extends SamplingParams {
  maxNewTokens: number;
  seed: number;
  /**
   * One seed per row: row b draws from its own stream, so its tokens do not depend on the other rows of the batch
   * (a batch sampled in pieces, or merged with others, draws the same). Default: one stream for the batch, from `seed`.
   */
  rowSeeds?: readonly number[];
  /** Token ids that end a row (included in its output). */
  eosIds: readonly number[];
  /** Called with a row's generated ids after each token; true ends the row (e.g. a stop string). */
  shouldStop?: (generated: readonly number[]) => boolean;
  /** Prefill the longest common prompt prefix once (default true). */
  reusePrefix?: boolean;
  /**
   * Only ids below this are sampled: the tokenizer's vocabulary size when the embedding has extra (padded) rows,
   * as many HF models do. Default: every row of the embedding.
   */
  sampleableVocab?: number;
  /** Once aborted, generation stops before its next model run and rejects with the signal's reason. */
  signal?: AbortSignal;
}

export interface Generation {
  tokens: number[];
  /** log p(token) under the model (temperature 1), one per generated token. */
  logprobs: number[];
  finishReason: 'eos' | 'stop' | 'length';
}

const N_BUCKET = 16;
const S_BUCKET = 64;
const roundUp = (n: number, m: number) => Math.ceil(n / m) * m;

/** Host key/value cache: per layer, K and V buffers [B, K, S, D]; row b holds `length[b]` filled slots. */
class KvCache {
  k: Float32Array[] = [];
  v: Float32Array[] = [];
  readonly length: number[];

  constructor(readonly layers: number, readonly B: number, readonly K: number, public S: number, readonly D: number) {
    for (let l = 0; l < layers; l++) {
      this.k.push(new Float32Array(B * K * S * D));
      this.v.push(new Float32Array(B * K * S * D));
    }
    this.length = new Array(B).fill(0);
  }

  /** Re-allocates to `S` slots (>= every row's length), keeping the filled slots. */
  resize(S: number): void {
    const { B, K, D } = this;
    const copy = (old: Float32Array) => {
      const next = new Float32Array(B * K * S * D);
      for (let bh = 0; bh < B * K; bh++) {
        const n = this.length[Math.floor(bh / K)] * D;
        next.set(old.subarray(bh * this.S * D, bh * this.S * D + n), bh * S * D);
      }
      return next;
    };
    this.k = this.k.map(copy);
    this.v = this.v.map(copy);
    this.S = S;
  }

  /** Writes rows of new keys/values [Bn, K, N, D] (row r of them -> cache row `rows[r]`), `counts[r]` tokens each. */
  append(layer: number, newK: Float32Array, newV: Float32Array, N: number, rows: number[], counts: number[]): void {
    const { K, S, D } = this;
    rows.forEach((b, r) => {
      for (let h = 0; h < K; h++) {
        const dst = ((b * K + h) * S + this.length[b]) * D;
        const src = ((r * K + h) * N) * D;
        this.k[layer].set(newK.subarray(src, src + counts[r] * D), dst);
        this.v[layer].set(newV.subarray(src, src + counts[r] * D), dst);
      }
    });
  }

  advance(rows: number[], counts: number[]): void {
    rows.forEach((b, r) => (this.length[b] += counts[r]));
  }

  feeds(): Record<string, HostTensor> {
    const f: Record<string, HostTensor> = {};
    const dims = [this.B, this.K, this.S, this.D];
    for (let l = 0; l < this.layers; l++) {
      f[cacheName(l, 'k')] = { data: this.k[l], dims };
      f[cacheName(l, 'v')] = { data: this.v[l], dims };
    }
    return f;
  }
}

export class Generator {
  constructor(readonly engine: ModelEngine) {}

  /** Generates a continuation of every prompt. */
  async generate(prompts: number[][], opts: GenerateOptions): Promise<Generation[]> {
    checkSamplingParams(opts);
    if (prompts.length === 0) return [];
    if (prompts.some((p) => p.length === 0)) throw new InputError('generate: every prompt needs at least one token');
    const cfg = this.engine.cfg;
    const B = prompts.length;
    const longest = Math.max(...prompts.map((p) => p.length));
    const rope = ropeTables([...Array(longest + opts.maxNewTokens).keys()], cfg.headDim, cfg.ropeTheta);
    const P = opts.reusePrefix === false ? 0 : sharedPrefixLength(prompts);
    opts.signal?.throwIfAborted();
    const prefix = P > 0 ? await this.prefillShared(prompts[0].slice(0, P), rope) : undefined;
    const cache = new KvCache(cfg.numLayers, B, cfg.numKvHeads, roundUp(longest - P + 1, S_BUCKET), cfg.headDim);
    const rows = [...Array(B).keys()];
    let logprobs = await this.extend(cache, rope, rows, prompts.map((p) => p.slice(P)), prefix);
    if (opts.rowSeeds && opts.rowSeeds.length !== B) throw new InputError(`generate: ${opts.rowSeeds.length} row seeds for ${B} prompts`);
    const batchRng = new Rng(opts.seed);
    const rngs = opts.rowSeeds?.map((s) => new Rng(s));
    const out: Generation[] = prompts.map(() => ({ tokens: [], logprobs: [], finishReason: 'length' }));
    const live = new Set(rows);
    const V = sampleableIds(opts.sampleableVocab, cfg.vocabSize);
    for (let step = 0; step < opts.maxNewTokens && live.size > 0; step++) {
      const next = new Array<number>(B).fill(0);
      for (const b of live) {
        const token = sampleToken(logprobs, b * cfg.vocabSize, V, opts, rngs ? rngs[b] : batchRng); // ids >= V are never drawn
        next[b] = token;
        out[b].tokens.push(token);
        out[b].logprobs.push(logprobs[b * cfg.vocabSize + token]);
        const reason = opts.eosIds.includes(token) ? 'eos' : opts.shouldStop?.(out[b].tokens) ? 'stop' : null;
        if (reason) {
          out[b].finishReason = reason;
          live.delete(b);
        }
      }
      if (live.size === 0 || step === opts.maxNewTokens - 1) break;
      opts.signal?.throwIfAborted();
      const needed = Math.max(...cache.length) + 1;
      if (needed > cache.S) cache.resize(roundUp(needed, S_BUCKET));
      logprobs = await this.extend(cache, rope, rows, next.map((t) => [t]), prefix);
    }
    return out;
  }

  /** Prefills `prefix` once, as a one-row cache that later calls attend to as a shared context. */
  private async prefillShared(prefix: number[], rope: Rope): Promise<KvCache> {
    const cfg = this.engine.cfg;
    const one = new KvCache(cfg.numLayers, 1, cfg.numKvHeads, roundUp(prefix.length, S_BUCKET), cfg.headDim);
    await this.extend(one, rope, [0], [prefix]);
    return one;
  }

  /**
   * Runs the extend graph for `tokens[r]` appended to cache row r (all rows of the cache, in order), writes the
   * new keys/values into the cache, and returns the next-token log-probs [B, V] after each row's last token.
   */
  private async extend(cache: KvCache, rope: Rope, rows: number[], tokens: number[][], prefix?: KvCache): Promise<Float32Array> {
    const cfg = this.engine.cfg;
    const { B, S, D } = cache;
    const counts = tokens.map((t) => t.length);
    const N = counts.every((c) => c === 1) ? 1 : roundUp(Math.max(...counts), N_BUCKET);
    const R = cfg.numHeads / cfg.numKvHeads;
    const empty = cache.length.every((l) => l === 0); // a prefill: no cache slots to attend to
    const feeds: Record<string, HostTensor> = { ...this.engine.paramFeeds(), ...(empty ? {} : cache.feeds()) };
    if (prefix) Object.assign(feeds, prefixFeeds(prefix));
    feeds.input_ids = { data: BigInt64Array.from(tokens.flatMap((t) => padTo(t, N).map(BigInt))), dims: [B, N] };
    const offset = prefix?.length[0] ?? 0;
    const { cos, sin } = rowRope(rope, cache.length.map((l) => l + offset), N, D);
    feeds.rope_cos = { data: cos, dims: [B, N, D] };
    feeds.rope_sin = { data: sin, dims: [B, N, D] };
    if (!empty) feeds.cache_bias = { data: cacheBias(cache.length, S), dims: [B, 1, 1, S] };
    feeds.new_bias = { data: newTokenBias(counts, N, R), dims: [B, 1, R * N, N] };
    feeds.last_index = { data: BigInt64Array.from(counts.map((c) => BigInt(c - 1))), dims: [B] };
    const P = prefix?.S ?? 0;
    const slots = empty ? 0 : S;
    const key = `${this.engine.graphTag}/extend/B${B}/N${N}/S${slots}/P${P}`;
    const session = await this.engine.runtime.compile(key, () => buildExtendGraph(cfg, B, N, slots, this.engine.lora, P));
    const out = await session.run(feeds);
    for (let l = 0; l < cfg.numLayers; l++) {
      cache.append(l, out[newKvName(l, 'k')].data as Float32Array, out[newKvName(l, 'v')].data as Float32Array, N, rows, counts);
    }
    cache.advance(rows, counts);
    return out.logprobs.data as Float32Array;
  }
}

/** A one-row cache as the shared-prefix context of the extend graph. */
function prefixFeeds(prefix: KvCache): Record<string, HostTensor> {
  const f: Record<string, HostTensor> = {};
  const dims = [1, prefix.K, prefix.S, prefix.D];
  for (let l = 0; l < prefix.layers; l++) {
    f[prefixName(l, 'k')] = { data: prefix.k[l], dims };
    f[prefixName(l, 'v')] = { data: prefix.v[l], dims };
  }
  f[PREFIX_BIAS] = { data: cacheBias(prefix.length, prefix.S), dims: [1, 1, 1, prefix.S] };
  return f;
}

/** How many leading ids of the embedding may be sampled. */
function sampleableIds(requested: number | undefined, vocabSize: number): number {
  if (requested === undefined) return vocabSize;
  if (!Number.isInteger(requested) || requested < 1) throw new InputError(`generate: sampleableVocab must be a positive integer, got ${requested}`);
  return Math.min(requested, vocabSize);
}

type Rope = { cos: Float64Array; sin: Float64Array };

function padTo(t: number[], N: number): number[] {
  return t.length === N ? t : [...t, ...new Array(N - t.length).fill(0)];
}

/** Rotary tables [B, N, D] for row b's new tokens at positions length[b] .. length[b] + N - 1. */
function rowRope(rope: Rope, lengths: number[], N: number, D: number) {
  const cos = new Float32Array(lengths.length * N * D);
  const sin = new Float32Array(lengths.length * N * D);
  const maxPos = rope.cos.length / D - 1;
  lengths.forEach((len, b) => {
    for (let j = 0; j < N; j++) {
      const pos = Math.min(len + j, maxPos); // padded tail positions are masked anyway
      cos.set(rope.cos.subarray(pos * D, pos * D + D), (b * N + j) * D);
      sin.set(rope.sin.subarray(pos * D, pos * D + D), (b * N + j) * D);
    }
  });
  return { cos, sin };
}

/** [B, 1, 1, S]: 0 for each row's filled slots, MASKED for the rest. */
function cacheBias(lengths: number[], S: number): Float32Array {
  const bias = new Float32Array(lengths.length * S).fill(MASKED);
  lengths.forEach((len, b) => bias.fill(0, b * S, b * S + len));
  return bias;
}

/** [B, 1, R*N, N]: new token i of row b may see new tokens j <= i that are real (j < counts[b]). */
function newTokenBias(counts: number[], N: number, R: number): Float32Array {
  const bias = new Float32Array(counts.length * R * N * N).fill(MASKED);
  counts.forEach((count, b) => {
    for (let r = 0; r < R; r++) {
      for (let i = 0; i < N; i++) {
        const row = ((b * R + r) * N + i) * N;
        for (let j = 0; j <= i && j < count; j++) bias[row + j] = 0; // padded query rows (i >= count) stay finite
      }
    }
  });
  return bias;
}

/** Length of the longest prefix every sequence starts with (all of a sequence can be the prefix). */
export function commonPrefixLength(seqs: number[][]): number {
  let n = Math.min(...seqs.map((s) => s.length));
  for (const s of seqs) {
    let i = 0;
    while (i < n && s[i] === seqs[0][i]) i++;
    n = i;
  }
  return n;
}

/** Longest common prefix of all prompts, leaving at least one token of each to prefill with its row. */
export function sharedPrefixLength(prompts: number[][]): number {
  const minLen = Math.min(...prompts.map((p) => p.length));
  let n = 0;
  while (n < minLen - 1 && prompts.every((p) => p[n] === prompts[0][n])) n++;
  return prompts.length > 1 ? n : 0;
}
