/**
 * Choosing the next token from a row of log-probs: temperature, top-k, top-p, then a seeded draw.
 * Temperature 0 is greedy. The log-prob reported for a token is always the model's own (temperature 1),
 * so it matches what the training path computes for the same sequence.
 *
 * Built for real vocabularies (V = 128k-152k): every pass is a loop over typed scratch buffers reused across calls
 * (no per-token JS arrays of V entries, no spreads). Top-k and top-p select their tokens with a quickselect in the
 * strict order "more probable first, lower id first among equals" (expected O(V), no full sort); the draw then walks
 * the kept ids in id order. {@link sampleTokenNaive} is the plain reference the tests compare against.
 */
import { InputError } from '../errors.ts';
import type { Rng } from '../util/rng.ts';

export interface SamplingParams {
  /** 0 = greedy; the paper evaluates at 0.01. */
  temperature: number;
  /** Nucleus sampling: smallest set of tokens whose probability reaches topP (1 = off). */
  topP: number;
  /** Keep only the k most likely tokens (0 = off). */
  topK: number;
}

export function checkSamplingParams(p: SamplingParams): void {
  if (!(p.temperature >= 0)) throw new InputError(`temperature must be >= 0, got ${p.temperature}`);
  if (!(p.topP > 0 && p.topP <= 1)) throw new InputError(`top-p must be in (0, 1], got ${p.topP}`);
  if (!(Number.isInteger(p.topK) && p.topK >= 0)) throw new InputError(`top-k must be an integer >= 0, got ${p.topK}`);
}

/** Scratch buffers, grown to the largest vocabulary seen: weights_V (by id), candidate ids, a kept-id mask. */
let scratch: { weights: Float64Array; ids: Uint32Array; mask: Uint8Array } | undefined;
function buffers(V: number) {
  if (!scratch || scratch.weights.length < V) scratch = { weights: new Float64Array(V), ids: new Uint32Array(V), mask: new Uint8Array(V) };
  return scratch;
}

/** Index of the largest entry of row [offset, offset + V) (the first one among equals). */
function argmax(row: Float32Array, offset: number, V: number): number {
  let best = 0;
  for (let v = 1; v < V; v++) if (row[offset + v] > row[offset + best]) best = v;
  return best;
}

/** Draws a token id in [0, V) from logprobs[offset .. offset+V); a V below the row's width masks the ids above it. */
export function sampleToken(logprobs: Float32Array, offset: number, V: number, p: SamplingParams, rng: Rng): number {
  if (p.temperature === 0) return argmax(logprobs, offset, V);
  const { weights, ids, mask } = buffers(V);
  if (!(p.topK > 0 && p.topK < V)) {
    // weights_V = exp((lp - max lp) / T): the unnormalised tempered distribution, <= 1.
    let top = -Infinity;
    for (let v = 0; v < V; v++) if (logprobs[offset + v] > top) top = logprobs[offset + v];
    for (let v = 0; v < V; v++) weights[v] = Math.exp((logprobs[offset + v] - top) / p.temperature);
    if (p.topP >= 1) return drawInIdOrder(weights, V, undefined, rng);
    for (let v = 0; v < V; v++) ids[v] = v;
    return drawKept(weights, ids, topP(weights, ids, V, p.topP), V, mask, rng);
  }
  const k = p.topK;
  if (k <= HEAP_MAX_K) heapTopK(logprobs, offset, V, k, ids);
  else {
    for (let v = 0; v < V; v++) weights[v] = logprobs[offset + v]; // selectTop orders by these scores
    for (let v = 0; v < V; v++) ids[v] = v;
    selectTop(weights, ids, 0, V, k);
  }
  let top = -Infinity;
  for (let i = 0; i < k; i++) if (logprobs[offset + ids[i]] > top) top = logprobs[offset + ids[i]];
  for (let i = 0; i < k; i++) weights[ids[i]] = Math.exp((logprobs[offset + ids[i]] - top) / p.temperature);
  return drawKept(weights, ids, p.topP < 1 ? topP(weights, ids, k, p.topP) : k, V, mask, rng);
}

/** Moves the nucleus of candidates ids[0, n) to the front; returns its size. */
function topP(weights: Float64Array, ids: Uint32Array, n: number, p: number): number {
  let mass = 0;
  for (let i = 0; i < n; i++) mass += weights[ids[i]];
  return n > BUCKETED_FROM ? selectMassBucketed(weights, ids, n, p * mass) : selectMass(weights, ids, n, p * mass);
}

/** Above this many candidates, top-p first narrows the boundary down by buckets of weight. */
const BUCKETED_FROM = 4096;
/** Bucket of a weight in (0, 1]: its float64 exponent and 3 leading mantissa bits (8 buckets per octave). */
const bucketOf = (hiWord: number) => hiWord >>> 17;
const BUCKETS = (0x7ff << 3) + 8;
const bucketMass = new Float64Array(BUCKETS);
const bucketCount = new Uint32Array(BUCKETS);

/**
 * {@link selectMass} for many candidates: a larger bucket holds only larger weights, so the buckets above the one where
 * the accumulated mass reaches `need` are wholly in the nucleus, and only that boundary bucket needs the quickselect.
 */
export function selectMassBucketed(w: Float64Array, ids: Uint32Array, n: number, need: number): number {
  const hi = new Uint32Array(w.buffer, w.byteOffset, w.length * 2); // little-endian: word 2v + 1 is weight v's high word
  bucketMass.fill(0);
  bucketCount.fill(0);
  for (let i = 0; i < n; i++) {
    const b = bucketOf(hi[2 * ids[i] + 1]);
    bucketMass[b] += w[ids[i]];
    bucketCount[b]++;
  }
  let boundary = BUCKETS - 1;
  let above = 0; // mass and count of the buckets above the boundary
  let aboveCount = 0;
  for (; boundary > 0 && above + bucketMass[boundary] < need; boundary--) {
    above += bucketMass[boundary];
    aboveCount += bucketCount[boundary];
  }
  // ids: [buckets above | boundary bucket | the rest], stably enough for selectMass (it orders by weight and id itself)
  let front = 0;
  for (let i = 0; i < n; i++) {
    const id = ids[i];
    if (bucketOf(hi[2 * id + 1]) > boundary) {
      ids[i] = ids[front];
      ids[front++] = id;
    }
  }
  let mid = front;
  for (let i = front; i < n; i++) {
    const id = ids[i];
    if (bucketOf(hi[2 * id + 1]) === boundary) {
      ids[i] = ids[mid];
      ids[mid++] = id;
    }
  }
  if (mid === front) return Math.max(1, aboveCount); // rounding: the mass ran out above the boundary
  return front + selectMass(w, ids.subarray(front, mid), mid - front, need - above);
}

/** Draws among ids[0, n), walked in ascending id order: sorted when few, through a mask of the V ids when many. */
function drawKept(weights: Float64Array, ids: Uint32Array, n: number, V: number, mask: Uint8Array, rng: Rng): number {
  if (n * 16 < V) return drawInIdOrder(weights, n, ids.subarray(0, n).sort(), rng);
  mask.fill(0, 0, V);
  for (let i = 0; i < n; i++) mask[ids[i]] = 1;
  let m = 0;
  for (let v = 0; v < V; v++) if (mask[v] === 1) ids[m++] = v;
  return drawInIdOrder(weights, n, ids, rng);
}

/**
 * One uniform draw from the weights of ids kept[0, n) (ascending; all of 0..n-1 when `kept` is undefined); the total
 * is summed in the order of the walk, as the reference does.
 */
function drawInIdOrder(weights: Float64Array, n: number, kept: Uint32Array | undefined, rng: Rng): number {
  let total = 0;
  if (kept) for (let i = 0; i < n; i++) total += weights[kept[i]];
  else for (let v = 0; v < n; v++) total += weights[v];
  let u = rng.next() * total;
  if (kept) {
    for (let i = 0; i < n; i++) if ((u -= weights[kept[i]]) < 0) return kept[i];
    return kept[n - 1]; // rounding left u >= 0 after the last kept id
  }
  for (let v = 0; v < n; v++) if ((u -= weights[v]) < 0) return v;
  return n - 1;
}

/** Up to this k, top-k keeps a heap of the best k while scanning the row once; above it, quickselect. */
const HEAP_MAX_K = 4096;

/** a ranks below b in the row: less probable, or equally probable with a higher id. */
const worse = (row: Float32Array, o: number, a: number, b: number) => row[o + a] < row[o + b] || (row[o + a] === row[o + b] && a > b);

/** ids[0, k) = the k most probable ids of row[offset, offset + V) (lower ids first among equals), as a min-heap. */
function heapTopK(row: Float32Array, offset: number, V: number, k: number, ids: Uint32Array): void {
  for (let v = 0; v < k; v++) {
    ids[v] = v; // sift up
    for (let i = v; i > 0; ) {
      const parent = (i - 1) >> 1;
      if (!worse(row, offset, ids[i], ids[parent])) break;
      const t = ids[i];
      ids[i] = ids[parent];
      ids[parent] = t;
      i = parent;
    }
  }
  for (let v = k; v < V; v++) {
    if (!(row[offset + v] > row[offset + ids[0]])) continue; // a later id needs a strictly larger log-prob
    ids[0] = v; // replace the worst, sift down
    for (let i = 0; ; ) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < k && worse(row, offset, ids[l], ids[m])) m = l;
      if (r < k && worse(row, offset, ids[r], ids[m])) m = r;
      if (m === i) break;
      const t = ids[i];
      ids[i] = ids[m];
      ids[m] = t;
      i = m;
    }
  }
}

/** a comes before b: more probable, or equally probable and a lower id. A strict total order, so ties need no care. */
const before = (w: Float64Array, a: number, b: number) => w[a] > w[b] || (w[a] === w[b] && a < b);

/**
 * Partitions ids[lo, hi) around a median-of-three pivot in the {@link before} order: ids before it, then the pivot,
 * then the rest. Returns the pivot's position.
 */
function partition(w: Float64Array, ids: Uint32Array, lo: number, hi: number): number {
  const mid = (lo + hi) >>> 1;
  const a = ids[lo], b = ids[mid], c = ids[hi - 1];
  const pivotAt = before(w, a, b) ? (before(w, b, c) ? mid : before(w, a, c) ? hi - 1 : lo) : before(w, a, c) ? lo : before(w, b, c) ? hi - 1 : mid;
  const pivot = ids[pivotAt];
  ids[pivotAt] = ids[hi - 1];
  ids[hi - 1] = pivot;
  let store = lo;
  for (let i = lo; i < hi - 1; i++) {
    if (before(w, ids[i], pivot)) {
      const t = ids[i];
      ids[i] = ids[store];
      ids[store++] = t;
    }
  }
  ids[hi - 1] = ids[store];
  ids[store] = pivot;
  return store;
}

/** Rearranges ids[lo, hi) so that its first k entries are the k first in the {@link before} order (in any order). */
export function selectTop(w: Float64Array, ids: Uint32Array, lo: number, hi: number, k: number): void {
  const target = lo + k;
  while (hi - lo > 1) {
    const p = partition(w, ids, lo, hi);
    if (p === target || p === target - 1) return;
    if (p > target) hi = p;
    else lo = p + 1;
  }
}

/**
 * Rearranges ids[0, n) so that its first m entries are the shortest prefix of the {@link before} order whose weights
 * sum to at least `need`; returns m (at least 1). Quickselect on accumulated mass instead of on a count.
 */
export function selectMass(w: Float64Array, ids: Uint32Array, n: number, need: number): number {
  let lo = 0;
  let hi = n;
  while (hi - lo > 1) {
    const p = partition(w, ids, lo, hi);
    let ahead = 0; // mass of ids[lo, p): all before the pivot
    for (let i = lo; i < p; i++) ahead += w[ids[i]];
    if (ahead >= need && p > lo) hi = p; // the prefix ends before the pivot
    else if (ahead + w[ids[p]] >= need) return p + 1; // ...exactly at the pivot
    else {
      need -= ahead + w[ids[p]];
      lo = p + 1;
    }
  }
  return Math.max(1, Math.min(hi, n));
}

/**
 * The reference sampler: plain arrays, a full sort, the same order and the same draw (one uniform, ids of the kept
 * set walked in ascending order). Slow at real vocabulary sizes; for tests.
 */
export function sampleTokenNaive(logprobs: Float32Array, offset: number, V: number, p: SamplingParams, rng: Rng): number {
  const lp = Array.from(logprobs.subarray(offset, offset + V));
  if (p.temperature === 0) return lp.indexOf(lp.reduce((a, b) => (b > a ? b : a), -Infinity));
  const top = lp.reduce((a, b) => (b > a ? b : a), -Infinity);
  const w = lp.map((x) => Math.exp((x - top) / p.temperature));
  let order = w.map((_, v) => v).sort((a, b) => w[b] - w[a] || a - b);
  if (p.topK > 0) order = order.slice(0, p.topK);
  if (p.topP < 1) {
    const mass = order.reduce((a, v) => a + w[v], 0);
    let acc = 0;
    const cut = order.findIndex((v) => (acc += w[v]) >= p.topP * mass);
    order = order.slice(0, cut < 0 ? order.length : cut + 1);
  }
  const kept = order.sort((a, b) => a - b);
  let u = rng.next() * kept.reduce((a, v) => a + w[v], 0);
  for (const v of kept) if ((u -= w[v]) < 0) return v;
  return kept[kept.length - 1];
}
