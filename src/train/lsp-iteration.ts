/**
 * One LSP iteration (the paper's Algorithm 1), stage by stage:
 *   challenger queries -> solver answers -> rewards R (+ self-rewards R_Q from the reference judge in `lsp`)
 *   -> advantages -> reference log-probs -> policy gradient of L = L_sol + alpha_ch * L_ch -> one AdamW step.
 * In `grpo` mode the queries come from a prompt set and there is no challenger loss. Returns the metrics and the
 * samples; the caller owns the run folder.
 */
import type { LossName, PolicyBackend, TrainRow } from '../backend/backend.ts';
import type { Completer, Completion, Sampling } from '../generate/chat.ts';
import { challengerQueries, drawTasks, type Query, type RewardSource, selfRewards, solverAnswers, type TaskSpec } from '../game/rollout.ts';
import { challengerAdvantages, solverAdvantages, solverRewards } from '../rl/advantages.ts';
import type { Mode } from '../rl/config.ts';
import { challengerRewardParts } from '../rl/rewards.ts';
import { foldKlIntoAdvantages, type KlFold } from '../rl/kl-fold.ts';
import { klEstimate, type KlEstimator } from '../rl/losses.ts';
import { mean } from '../util/math.ts';
import { Rng, stepSeed } from '../util/rng.ts';
import type { FamilyName } from '../world/types.ts';
import { classify } from '../world/world.ts';

/** What one iteration needs to know (a view of the run config). */
export interface IterationSettings {
  mode: Mode;
  N: number;
  G: number;
  alphaCh: number;
  betaSolver: number;
  betaChallenger: number;
  klEstimator: KlEstimator;
  /** exact (default): the local loss with klEstimator; importance_sampling: the KL folded into per-token advantages. */
  policyLoss?: 'exact' | 'importance_sampling';
  /** How the KL enters the per-token advantages of importance_sampling (default sequence). */
  klFold?: KlFold;
  selfRewardWeight: number;
  selfRewardFallback: number;
  sampling: { challenger: Sampling; solver: Sampling; judge: Sampling };
  tasks: 'world' | TaskSpec[];
  families: FamilyName[];
  challengerPrompt?: string;
  judgePrompt?: string;
  /** GRPO: the instruction set queries are drawn from. */
  prompts?: string[];
  microBatch: number;
  lr: number;
  seed: number;
  /** Challenger reward options (src/rl/rewards.ts); absent = the paper's -V(q), no penalties. */
  challengerReward?: 'paper' | 'uncertainty';
  invalidQueryPenalty?: number;
  repetitionPenalty?: number;
  repetitionThreshold?: number;
}

/** What one iteration runs on: the backend that holds the weights, its two models as the game sees them, rewards. */
export interface IterationModels {
  backend: PolicyBackend;
  /** Samples from backend.policy (challenger queries, solver answers). */
  policy: Completer;
  /** Samples from backend.reference (the self-reward judge). */
  reference: Completer;
  reward: RewardSource;
}

export interface IterationResult {
  metrics: Record<string, number | boolean>;
  samples: Record<string, unknown>[];
  /** False when the loss or gradient was not finite and the weights were left untouched. */
  updated: boolean;
}

const std = (a: number[]) => Math.sqrt(mean(a.map((v) => (v - mean(a)) ** 2)));

class Timer {
  readonly split: Record<string, number> = {};
  private t = performance.now();
  lap(stage: string): void {
    const now = performance.now();
    this.split[stage] = (this.split[stage] ?? 0) + (now - this.t) / 1000;
    this.t = now;
  }
}

/** GRPO queries: N instructions drawn from the prompt set, wrapped as queries with no challenger tokens. */
function promptSetQueries(rng: Rng, prompts: string[], N: number): Query[] {
  return Array.from({ length: N }, () => {
    const text = prompts[Math.floor(rng.next() * prompts.length)];
    return { text, userText: text, spec: { task: '', template: '' }, promptIds: [], tokens: [], logprobs: [], finishReason: 'eos' as const };
  });
}

async function rollout(s: IterationSettings, m: IterationModels, iteration: number, timer: Timer) {
  const seed = (salt: number) => stepSeed(s.seed, iteration, salt);
  const rng = new Rng(seed(10));
  const queries =
    s.mode === 'grpo'
      ? promptSetQueries(rng, s.prompts ?? [], s.N)
      : await challengerQueries(m.policy, drawTasks(rng, s.N, s.tasks, s.families), s.sampling.challenger, seed(11), s.challengerPrompt);
  timer.lap('challenger');
  const queryTexts = queries.map((q) => q.text);
  const answers = await solverAnswers(m.policy, queryTexts, s.G, s.sampling.solver, seed(12));
  timer.lap('solver');
  const answerTexts = answers.map((g) => g.map((a) => a.text.trim()));
  const R = await m.reward.score(queryTexts, answerTexts);
  timer.lap('reward');
  const self = s.mode === 'lsp' ? await selfRewards(m.reference, queryTexts, answerTexts, s.sampling.judge, seed(13), s.selfRewardFallback, s.judgePrompt) : null;
  timer.lap('judge');
  return { queries, answers, R, self };
}

function policyRows(queries: Query[], answers: Completion[][], advSol: number[][], advCh: number[], s: IterationSettings) {
  const NG = s.N * s.G;
  const solver: TrainRow[] = answers.flatMap((group, i) =>
    group.map((a, j) => ({ promptIds: a.promptIds, tokens: a.tokens, samplerLogprobs: a.logprobs, refLogprobs: [], advantage: advSol[i][j] / NG, klCoef: s.betaSolver / NG })),
  );
  const challenger: TrainRow[] =
    s.mode === 'grpo'
      ? []
      : queries.map((q, i) => ({
          promptIds: q.promptIds,
          tokens: q.tokens,
          samplerLogprobs: q.logprobs,
          refLogprobs: [],
          advantage: (s.alphaCh * advCh[i]) / s.N,
          klCoef: (s.alphaCh * s.betaChallenger) / s.N,
        }));
  return { solver, challenger };
}

/** Mean over rows of the sampled sequence log-ratio sum_t (log pi - log pi_ref): an estimate of KL(pi || pi_ref). */
const sequenceKl = (rows: TrainRow[]) => klEstimate(rows.map((r) => r.samplerLogprobs), rows.map((r) => r.refLogprobs)).kl;

export async function runIteration(s: IterationSettings, m: IterationModels, iteration: number): Promise<IterationResult> {
  const timer = new Timer();
  const { queries, answers, R: rawR, self } = await rollout(s, m, iteration, timer);
  // a non-finite reward (a broken reward model) voids the update; it is zeroed only so the metrics still compute
  const nonfiniteRewards = rawR.flat().filter((r) => !Number.isFinite(r)).length;
  const R = rawR.map((g) => g.map((r) => (Number.isFinite(r) ? r : 0)));
  const RQ = self ? self.scores_N_G : null;
  const solverR = solverRewards(R, RQ, s.selfRewardWeight);
  const sol = solverAdvantages(solverR);
  const valid = queries.map((q) => classify(q.text).valid);
  const ch = challengerRewardParts(R, RQ, queries.map((q) => q.text), s.tasks === 'world' ? valid : null, {
    kind: s.challengerReward ?? 'paper',
    selfWeight: s.selfRewardWeight,
    invalidPenalty: s.invalidQueryPenalty ?? 0,
    repetitionPenalty: s.repetitionPenalty ?? 0,
    repetitionThreshold: s.repetitionThreshold ?? 0.85,
  });
  const chR = ch.rewards_N;
  const advCh = challengerAdvantages(chR);
  const rows = policyRows(queries, answers, sol.advantages_N_G, advCh, s);
  for (const group of [rows.solver, rows.challenger]) {
    const refs = await m.backend.reference.logprobs(group, s.microBatch);
    group.forEach((r, i) => (r.refLogprobs = refs[i]));
  }
  timer.lap('reference');
  const folded = s.policyLoss === 'importance_sampling';
  for (const r of folded ? [...rows.solver, ...rows.challenger] : []) {
    r.tokenAdvantages = foldKlIntoAdvantages(r.advantage, r.klCoef, r.samplerLogprobs, r.refLogprobs, s.klFold ?? 'sequence');
  }
  const loss: LossName = folded ? 'importance_sampling' : `policy_${s.klEstimator}`;
  const gSol = await m.backend.forwardBackward(rows.solver, loss, s.microBatch);
  // the challenger's gradients accumulate into the solver's in the backend until the step
  const gCh = rows.challenger.length ? await m.backend.forwardBackward(rows.challenger, loss, s.microBatch) : null;
  const lossTotal = gSol.loss + (gCh?.loss ?? 0);
  const step = await m.backend.optimStep({ learningRate: s.lr }, nonfiniteRewards > 0 || !Number.isFinite(lossTotal));
  const { gradNorm, applied: updated } = step;
  if (updated) await m.backend.saveWeightsForSampler();
  timer.lap('train');
  const flatR = R.flat();
  const sampled = gSol.tokens + (gCh?.tokens ?? 0);
  const seconds = Object.values(timer.split).reduce((a, b) => a + b, 0);
  const metrics: Record<string, number | boolean> = {
    'solver/reward/mean': mean(flatR),
    'solver/reward/std': std(flatR),
    'solver/total_reward/mean': mean(solverR.flat()),
    'challenger/reward/mean': mean(chR),
    'challenger/valid_frac': mean(valid.map(Number)),
    'challenger/cluster_size/mean': mean(ch.repetition_N) * s.N,
    'selfreward/mean': self ? mean(self.scores_N_G.flat()) : NaN,
    'selfreward/parse_fail': self ? self.parseFailures / (s.N * s.G) : NaN,
    'kl/solver': sequenceKl(rows.solver),
    'kl/challenger': rows.challenger.length ? sequenceKl(rows.challenger) : NaN,
    'loss/solver': gSol.loss,
    'loss/challenger': gCh?.loss ?? NaN,
    frac_reward_zero_std: sol.zeroStdGroups / s.N,
    grad_norm: gradNorm,
    'completions/mean_length/solver': mean(answers.flat().map((a) => a.tokens.length)),
    'completions/mean_length/challenger': s.mode === 'grpo' ? NaN : mean(queries.map((q) => q.tokens.length)),
    'sampling/logp_diff': Math.max(gSol.logpDiff, gCh?.logpDiff ?? 0),
    tokens_per_s: sampled / seconds,
    updated,
    'rewards/nonfinite': nonfiniteRewards,
    ...(m.reward.metrics?.() ?? {}),
    ...Object.fromEntries(Object.entries(timer.split).map(([k, v]) => [`time/${k}`, v])),
  };
  const samples = queries.map((q, i) => ({
    query: q.text,
    family: q.spec.family,
    valid: valid[i],
    challenger_reward: chR[i],
    answers: answers[i].map((a, j) => ({ answer: a.text, reward: rawR[i][j], self_score: self?.scores_N_G[i][j], judge: self?.texts_N_G[i][j] })),
  }));
  return { metrics, samples, updated };
}
