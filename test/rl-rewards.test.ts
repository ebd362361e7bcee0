/**
 * Reward options (src/rl/rewards.ts) against hand-computed values and naive references, their config checks, and
 * their wiring into one training iteration (the logged challenger rewards).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { runSettings } from '../src/train/settings.ts';
import { exactVerifierReward, type RewardSource } from '../src/game/rollout.ts';
import { challengerRewards } from '../src/rl/advantages.ts';
import { resolveConfig } from '../src/rl/config.ts';
import {
  challengerRewardParts,
  exactRewards,
  ngramSimilarity,
  repetitionPenalties,
  similarityClusters,
  successRates,
  uncertaintyRewards,
} from '../src/rl/rewards.ts';
import { Runtime } from '../src/runtime/runtime.ts';
import { train } from '../src/train/lsp.ts';
import { readJsonl } from '../src/train/run-folder.ts';
import { Rng } from '../src/util/rng.ts';
import { tinyWorldModel } from './helpers/tiny-world-model.ts';

const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) < 1e-12, `${what}: ${a} vs ${b} (diff ${Math.abs(a - b)})`);

test('exact rewards: 1 only for full credit', async () => {
  assert.deepEqual(exactRewards([[1, 0.5, 0.999], [0, 1, 2 / 3]]), [[1, 0, 0], [0, 1, 0]]);
  // the world's verifier: "tac" is the exact reverse of "cat"; "tax" has partial credit 2/3 there, 0 here
  const q = 'Reverse the word: gute'; // a held-out item; "etug" is exact, "etux" has partial credit 3/4
  const R = await exactVerifierReward.score([q], [['etug', 'etux']]);
  assert.deepEqual(R, [[1, 0]]);
});

test('uncertainty reward 1 - 2|p - 0.5| from exact success rates', () => {
  const p = successRates([[1, 1, 0, 0], [1, 1, 1, 1], [0, 0.9, 0, 0], [1, 0, 0, 0]]);
  assert.deepEqual(p, [0.5, 1, 0, 0.25]);
  assert.deepEqual(uncertaintyRewards(p), [1, 0, 0, 0.5]);
  assert.throws(() => uncertaintyRewards([1.5]), /outside \[0, 1\]/);
});

test('n-gram similarity: hand-computed values, symmetric, 1 for equal texts', () => {
  // n=1: {a,b,c} vs {a,b,d}: 2*2/6; n=2: {ab,bc} vs {ab,bd}: 2*1/4; n=3: 0/2; n=4: neither text has one
  close(ngramSimilarity('a b c', 'a b d'), (4 / 6 + 2 / 4 + 0) / 3, 'a b c ~ a b d');
  // multiset: "a a" vs "a": n=1 shared min(2,1) = 1 of 3 -> 2/3; n=2 only one side has one
  close(ngramSimilarity('a a', 'a'), 2 / 3, 'a a ~ a');
  assert.equal(ngramSimilarity('Sort: 3 1 2.', 'Sort: 3 1 2.'), 1);
  assert.equal(ngramSimilarity('x', 'y'), 0);
  const rng = new Rng(3);
  const words = () => Array.from({ length: 1 + Math.floor(rng.next() * 6) }, () => 'abc'[Math.floor(rng.next() * 3)]).join(' ');
  for (let i = 0; i < 50; i++) {
    const [a, b] = [words(), words()];
    close(ngramSimilarity(a, b), ngramSimilarity(b, a), `symmetry of "${a}" / "${b}"`);
  }
});

test('the default threshold links near-copies, not template reuse', () => {
  const threshold = resolveConfig({}).repetitionThreshold;
  for (const [a, b] of [['Reverse the letters of the word lokem.', 'Reverse the letters of the word tipan.'], ['Reverse the word: gute', 'Reverse the word: huse']]) {
    const reuse = ngramSimilarity(a, b);
    assert.ok(reuse > 0.5 && reuse < threshold, `same template, other word: ${reuse}`);
  }
  const near = ngramSimilarity('Sort these numbers in ascending order: 12 7 33 4 19 8', 'Sort these numbers in ascending order: 12 7 33 4 19 9');
  assert.ok(near >= threshold, `one number of six changed: ${near}`);
});

/** Connected components by breadth-first search over the full similarity matrix (the naive reference). */
function naiveClusters(texts: string[], threshold: number): number[][] {
  const seen = new Set<number>();
  const out: number[][] = [];
  for (let s = 0; s < texts.length; s++) {
    if (seen.has(s)) continue;
    const comp = [s];
    seen.add(s);
    for (let k = 0; k < comp.length; k++) {
      for (let j = 0; j < texts.length; j++) {
        if (!seen.has(j) && ngramSimilarity(texts[comp[k]], texts[j]) >= threshold) (seen.add(j), comp.push(j));
      }
    }
    out.push(comp.sort((a, b) => a - b));
  }
  return out;
}

test('clusters are the linked components (transitive), as a naive search finds them; penalty |C| / N', () => {
  // a~b and b~c but not a~c: one cluster of three
  const chain = ['a b c d e f', 'a b c d e g', 'a b c d h g', 'x y'];
  assert.ok(ngramSimilarity(chain[0], chain[2]) < 0.55 && ngramSimilarity(chain[0], chain[1]) >= 0.55 && ngramSimilarity(chain[1], chain[2]) >= 0.55);
  assert.deepEqual(repetitionPenalties(chain, 0.55), [3 / 4, 3 / 4, 3 / 4, 1 / 4]);
  const rng = new Rng(9);
  for (let trial = 0; trial < 20; trial++) {
    const texts = Array.from({ length: 8 }, () => Array.from({ length: 4 }, () => 'ab'[Math.floor(rng.next() * 2)]).join(' '));
    const ids = similarityClusters(texts, 0.6);
    const ours = [...new Set(ids)].map((c) => ids.flatMap((d, i) => (d === c ? [i] : []))).sort((a, b) => a[0] - b[0]);
    assert.deepEqual(ours, naiveClusters(texts, 0.6), texts.join(' | '));
  }
  assert.throws(() => repetitionPenalties(['a'], 0), /threshold must be in \(0, 1\]/);
});

test('challenger reward: defaults equal the paper formula; penalties and uncertainty as hand-computed', () => {
  const R = [[1, 0, 1, 1], [0, 0, 0, 0], [1, 1, 0, 0]];
  const RQ = [[7, 0, 7, 0], [7, 7, 7, 7], [0, 0, 0, 0]];
  const queries = ['Sort: 1 2 3', 'garbage', 'Sort: 1 2 3'];
  const off = { kind: 'paper' as const, selfWeight: 1, invalidPenalty: 0, repetitionPenalty: 0, repetitionThreshold: 0.85 };
  const paper = challengerRewardParts(R, RQ, queries, [true, false, true], off);
  assert.deepEqual(paper.rewards_N, challengerRewards([0.75, 0, 0.5], [3.5, 7, 0], 1));
  assert.deepEqual(paper.repetition_N, [2 / 3, 1 / 3, 2 / 3]);
  const on = challengerRewardParts(R, null, queries, [true, false, true], { ...off, kind: 'uncertainty', invalidPenalty: 0.5, repetitionPenalty: 0.3 });
  // p = 0.75, 0, 0.5 -> u = 0.5, 0, 1; the invalid query loses 0.5; the two copies lose 0.3 * 2/3, the other 0.3/3
  const expected = [0.5 - 0.2, 0 - 0.5 - 0.1, 1 - 0.2];
  on.rewards_N.forEach((r, i) => close(r, expected[i], `query ${i}`));
  const unknownValidity = challengerRewardParts(R, null, queries, null, { ...off, invalidPenalty: 0.5 });
  assert.deepEqual(unknownValidity.rewards_N, [-0.75, -0, -0.5]);
});

test('config: reward options, with their conflicts named', () => {
  const c = resolveConfig({ verifierReward: 'exact', challengerReward: 'uncertainty', invalidQueryPenalty: 1, repetitionPenalty: 0.5 });
  assert.deepEqual([c.verifierReward, c.challengerReward, c.invalidQueryPenalty, c.repetitionPenalty, c.repetitionThreshold], ['exact', 'uncertainty', 1, 0.5, 0.85]);
  assert.throws(() => resolveConfig({ verifierReward: 'exact', rewardSource: 'reward-model:x' }), /verifierReward exact needs rewardSource verifier/);
  assert.throws(() => resolveConfig({ invalidQueryPenalty: 1, tasks: 'none' }), /invalidQueryPenalty needs world tasks/);
  assert.throws(() => resolveConfig({ mode: 'grpo', promptsFile: 'p.jsonl', repetitionPenalty: 1 }), /repetitionPenalty has no effect in mode grpo/);
  assert.throws(() => resolveConfig({ repetitionThreshold: 0 }), /repetitionThreshold/);
  const saved = resolveConfig(JSON.parse(JSON.stringify(resolveConfig({ mode: 'grpo', promptsFile: 'p.jsonl', out: 'x' }))));
  assert.equal(saved.challengerReward, 'paper', 'a saved grpo config (defaults repeated) resolves');
});

test('one iteration: the logged challenger rewards include the invalid-query and repetition penalties', async () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'rl-rewards-'));
  const c = resolveConfig(
    { model: tinyWorldModel(), out, iterations: 1, N: 3, G: 2, quiet: true, seed: 7, mode: 'lsp-zero', invalidQueryPenalty: 0.25, repetitionPenalty: 0.5 },
    { sampling: { challenger: { maxTokens: 6 }, solver: { maxTokens: 6 } } },
  );
  const constant: RewardSource = { name: 'const', score: async (_q, a) => a.map((g) => g.map((_, j) => j / 2)) };
  await train({ ...runSettings(c, new Runtime({ threads: 1 }), 1), reward: constant });
  const samples = readJsonl(path.join(out, 'samples.jsonl'));
  const rep = repetitionPenalties(samples.map((s) => s.query as string), 0.85);
  samples.forEach((s, i) => {
    const expected = -0.25 - (s.valid ? 0 : 0.25) - 0.5 * rep[i]; // V(q) = mean(0, 0.5)
    close(s.challenger_reward as number, expected, `query ${i} (${JSON.stringify(s.query)}, valid ${s.valid})`);
  });
  const [m] = readJsonl(path.join(out, 'metrics.jsonl'));
  close(m['challenger/cluster_size/mean'] as number, (rep.reduce((a, b) => a + b, 0) / 3) * 3, 'cluster size metric');
});
