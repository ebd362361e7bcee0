/**
 * The sampler at real vocabulary sizes (V = 128,256 and Qwen's 151,936-row embedding with 151,669 tokens): every path
 * (greedy, temperature, top-k, top-p, both, several rows of one batch, seeds) draws exactly the token the naive
 * reference (plain arrays, a full sort) draws from the same random stream; on small vocabularies the frequencies
 * match the exact distribution, computed here independently.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { sampleToken, sampleTokenNaive, selectMass, selectMassBucketed, selectTop, type SamplingParams } from '../src/generate/sampler.ts';
import { Rng } from '../src/util/rng.ts';

/** log-softmax of normal logits of scale `sharpness` (large = peaked, small = nearly uniform). */
function logprobRow(V: number, seed: number, sharpness: number): Float32Array {
  const rng = new Rng(seed);
  const logits = new Float64Array(V);
  let top = -Infinity;
  for (let v = 0; v < V; v++) {
    logits[v] = sharpness * Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
    top = Math.max(top, logits[v]);
  }
  let z = 0;
  for (let v = 0; v < V; v++) z += Math.exp(logits[v] - top);
  const out = new Float32Array(V);
  for (let v = 0; v < V; v++) out[v] = logits[v] - top - Math.log(z);
  return out;
}

const PATHS: Array<[string, SamplingParams]> = [
  ['greedy', { temperature: 0, topK: 0, topP: 1 }],
  ['temperature 1', { temperature: 1, topK: 0, topP: 1 }],
  ['temperature 0.7', { temperature: 0.7, topK: 0, topP: 1 }],
  ['top-k 50', { temperature: 1, topK: 50, topP: 1 }],
  ['top-k 20000', { temperature: 1.3, topK: 20000, topP: 1 }],
  ['top-p 0.9', { temperature: 1, topK: 0, topP: 0.9 }],
  ['top-p 0.5 at T 0.6', { temperature: 0.6, topK: 0, topP: 0.5 }],
  ['top-k 40 + top-p 0.8', { temperature: 0.8, topK: 40, topP: 0.8 }],
];

test('sampler at V = 128,256: every path draws what the naive reference draws, seeds reproduce', () => {
  const V = 128256;
  const rows = [logprobRow(V, 1, 3), logprobRow(V, 2, 0.3)]; // peaked, nearly flat (top-p keeps ~100k ids)
  for (const [name, p] of PATHS) {
    for (const [r, row] of rows.entries()) {
      const t0 = performance.now();
      const fast = [1, 2, 3].map((seed) => sampleToken(row, 0, V, p, new Rng(seed)));
      const ms = (performance.now() - t0) / 3;
      const naive = [1, 2, 3].map((seed) => sampleTokenNaive(row, 0, V, p, new Rng(seed)));
      console.log(`  ${name}, row ${r}: ${fast.join(' ')} (${ms.toFixed(1)} ms/token)`);
      assert.deepEqual(fast, naive, `${name}, row ${r}`);
      assert.deepEqual([1, 2, 3].map((seed) => sampleToken(row, 0, V, p, new Rng(seed))), fast, 'same seed, same token');
      assert.ok(fast.every((t) => Number.isInteger(t) && t >= 0 && t < V));
    }
  }
  // different seeds must give different tokens on the flat row (else the seed is ignored)
  const flat = rows[1];
  const draws = new Set(Array.from({ length: 20 }, (_, s) => sampleToken(flat, 0, V, PATHS[1][1], new Rng(100 + s))));
  assert.ok(draws.size > 15, `only ${draws.size} distinct tokens in 20 seeds`);
});

test('sampler: several rows of one batch [B, V] at Qwen size, padded ids never drawn, one stream reproduces', () => {
  const rowsV = 151936; // embedding rows
  const V = 151669; // tokenizer ids
  const B = 3;
  const batch = new Float32Array(B * rowsV);
  for (let b = 0; b < B; b++) {
    const row = logprobRow(rowsV, 10 + b, b === 0 ? 0.2 : 2);
    row.fill(5, V); // the padded ids are the most likely by far: sampling them would be a bug
    batch.set(row, b * rowsV);
  }
  for (const [name, p] of PATHS) {
    const run = (sampler: typeof sampleToken) => {
      const rng = new Rng(7);
      const out: number[] = [];
      for (let b = 0; b < B; b++) out.push(sampler(batch, b * rowsV, V, p, rng));
      return out;
    };
    const fast = run(sampleToken);
    assert.deepEqual(fast, run(sampleTokenNaive), name);
    assert.deepEqual(fast, run(sampleToken), `${name}: same seed`);
    assert.ok(fast.every((t) => t < V), `${name}: padded id drawn: ${fast}`);
  }
});

/** The tempered, filtered distribution, computed directly from its definition (sorted probabilities). */
function exactDistribution(lp: number[], p: SamplingParams): number[] {
  const probs = lp.map((x) => Math.exp(x / p.temperature));
  const z = probs.reduce((a, b) => a + b, 0);
  const ranked = probs.map((q, v) => ({ v, q: q / z })).sort((a, b) => b.q - a.q || a.v - b.v);
  const k = p.topK > 0 ? Math.min(p.topK, ranked.length) : ranked.length;
  const topK = ranked.slice(0, k);
  const mass = topK.reduce((a, e) => a + e.q, 0);
  const kept: typeof ranked = [];
  let acc = 0;
  for (const e of topK) {
    kept.push(e);
    acc += e.q / mass;
    if (p.topP < 1 && acc >= p.topP - 1e-12) break;
  }
  const keptMass = kept.reduce((a, e) => a + e.q, 0);
  const out = new Array<number>(lp.length).fill(0);
  for (const e of kept) out[e.v] = e.q / keptMass;
  return out;
}

test('sampler: frequencies match the exact distribution on small vocabularies (ties included)', () => {
  const lp = [0.3, 0.1, 0.1, 0.25, 0.05, 0.2].map(Math.log); // ids 1 and 2 tie
  const row = Float32Array.from(lp);
  const cases: SamplingParams[] = [
    { temperature: 1, topK: 0, topP: 1 },
    { temperature: 0.5, topK: 0, topP: 1 },
    { temperature: 2, topK: 0, topP: 1 },
    { temperature: 1, topK: 2, topP: 1 },
    { temperature: 1, topK: 0, topP: 0.7 },
    { temperature: 1, topK: 5, topP: 0.85 },
  ];
  const draws = 40000;
  for (const p of cases) {
    const want = exactDistribution(Array.from(row), p);
    const counts = new Array<number>(row.length).fill(0);
    const rng = new Rng(3);
    for (let i = 0; i < draws; i++) counts[sampleToken(row, 0, row.length, p, rng)]++;
    let maxDiff = 0;
    for (let v = 0; v < row.length; v++) maxDiff = Math.max(maxDiff, Math.abs(counts[v] / draws - want[v]));
    console.log(`  T ${p.temperature} top-k ${p.topK} top-p ${p.topP}: max |freq - p| ${maxDiff.toExponential(2)}`);
    assert.ok(maxDiff < 0.01, `frequencies off by ${maxDiff}`);
    want.forEach((q, v) => q === 0 && assert.equal(counts[v], 0, `id ${v} is outside the kept set but was drawn`));
  }
});

test('sampler: fast = naive on random small rows with ties, any parameters (property)', () => {
  const params = fc.record({
    temperature: fc.constantFrom(0, 0.3, 1, 2.5),
    topK: fc.integer({ min: 0, max: 12 }),
    topP: fc.constantFrom(1, 0.95, 0.5, 0.1),
  });
  // quantised log-probs make ties common
  const rows = fc.array(fc.integer({ min: -8, max: 0 }), { minLength: 1, maxLength: 40 }).map((xs) => Float32Array.from(xs, (x) => x / 2));
  fc.assert(
    fc.property(rows, params, fc.integer({ min: 0, max: 1e6 }), (row, p, seed) => {
      const fast = sampleToken(row, 0, row.length, p, new Rng(seed));
      const naive = sampleTokenNaive(row, 0, row.length, p, new Rng(seed));
      return fast === naive;
    }),
    { numRuns: 3000, seed: 1 },
  );
});

test('selectTop / selectMass: the first entries are the true top ones (against a full sort)', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 6 }), { minLength: 1, maxLength: 200 }), fc.double({ min: 0.01, max: 1, noNaN: true }), (xs, frac) => {
      const w = Float64Array.from(xs, (x) => 2 ** -x);
      const sorted = [...w.keys()].sort((a, b) => w[b] - w[a] || a - b);
      const k = Math.max(1, Math.floor(frac * w.length));
      const ids = Uint32Array.from(w.keys());
      selectTop(w, ids, 0, w.length, k);
      assert.deepEqual([...ids.subarray(0, k)].sort((a, b) => a - b), sorted.slice(0, k).sort((a, b) => a - b));
      const total = w.reduce((a, b) => a + b, 0);
      const ids2 = Uint32Array.from(w.keys());
      const m = selectMass(w, ids2, w.length, frac * total);
      let acc = 0;
      const want = sorted.findIndex((v) => (acc += w[v]) >= frac * total) + 1 || w.length;
      assert.equal(m, want);
      assert.deepEqual([...ids2.subarray(0, m)].sort((a, b) => a - b), sorted.slice(0, m).sort((a, b) => a - b));
    }),
    { numRuns: 2000, seed: 2 },
  );
});

test('selectMassBucketed = the shortest heaviest prefix by full sort, on large rows with many equal weights', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 1e6 }), fc.double({ min: 0.001, max: 1, noNaN: true }), fc.integer({ min: 1, max: 40 }), (seed, frac, levels) => {
      const rng = new Rng(seed);
      const n = 5000;
      const w = Float64Array.from({ length: n }, () => Math.exp(-Math.floor(rng.next() * levels) / 3)); // ties across ids
      const ids = Uint32Array.from(w.keys());
      const total = w.reduce((a, b) => a + b, 0);
      const m = selectMassBucketed(w, ids, n, frac * total);
      const sorted = [...w.keys()].sort((a, b) => w[b] - w[a] || a - b);
      let acc = 0;
      const want = sorted.findIndex((v) => (acc += w[v]) >= frac * total) + 1 || n;
      assert.equal(m, want);
      assert.deepEqual([...ids.subarray(0, m)].sort((a, b) => a - b), sorted.slice(0, m).sort((a, b) => a - b));
    }),
    { numRuns: 300, seed: 3 },
  );
});
