/**
 * Rewards and advantages of one LSP iteration, as pure functions of the group arrays (paper section 3,
 * docs/method.md). N queries q_i, G answers a_i^j each; arrays carry their shape as a suffix:
 * rewards_N_G[i][j] = R(q_i, a_i^j), values_N[i] = V(q_i).
 *
 *   V(q_i)        = (1/G) sum_j R(q_i, a_i^j)                 (the group's value: a baseline per query)
 *   A_sol(q_i, j) = R(q_i, a_i^j) - V(q_i)                    (solver: REINFORCE with the group baseline)
 *   A_ch(q_i)     = Vbar - V(q_i),  Vbar = (1/N) sum_i V(q_i)   (challenger: rewarded for queries the solver fails)
 *
 * LSP adds the quality self-reward R_Q (0..7, the frozen reference answering Box 3): the solver's reward becomes
 * R + w R_Q and the challenger's -V(q_i) + w V_Q(q_i). The paper adds R_Q unscaled (w = 1 on 0..7), but its R came
 * from a reward model with another range; our verifier's R is in [0, 1], so R_Q enters as w * R_Q / 7
 * (SELF_REWARD_SCALE): with w = 1 both rewards span [0, 1] and weigh equally, as in the paper's plain sum.
 */
import { InputError } from '../errors.ts';
import { mean } from '../util/math.ts';

/** The Box 3 judge's highest score: R_Q is in [0, JUDGE_MAX_SCORE]. */
export const JUDGE_MAX_SCORE = 7;
/** R_Q is multiplied by this before weighting, mapping 0..7 onto the verifier's [0, 1]. */
export const SELF_REWARD_SCALE = 1 / JUDGE_MAX_SCORE;


/** Checks a finite, non-empty vector; names it and the bad entry. */
function checkVector(name: string, xs: readonly number[]): void {
  if (!Array.isArray(xs) || xs.length === 0) throw new InputError(`${name}: expected a non-empty array`);
  xs.forEach((x, i) => {
    if (typeof x !== 'number' || !Number.isFinite(x)) throw new InputError(`${name}[${i}]: expected a finite number, got ${x}`);
  });
}

/** Checks a rectangular N x G matrix of finite numbers (G >= 1); returns G. */
function checkGroups(name: string, xs_N_G: readonly (readonly number[])[]): number {
  if (!Array.isArray(xs_N_G) || xs_N_G.length === 0) throw new InputError(`${name}: expected N >= 1 groups`);
  const G = Array.isArray(xs_N_G[0]) ? xs_N_G[0].length : 0;
  xs_N_G.forEach((group, i) => {
    if (!Array.isArray(group) || group.length !== G) {
      throw new InputError(`${name}[${i}]: expected ${G} entries like group 0, got ${Array.isArray(group) ? group.length : typeof group}`);
    }
    checkVector(`${name}[${i}]`, group);
  });
  return G;
}

/** V(q_i) = (1/G) sum_j R(q_i, a_i^j): the mean reward of each query's G answers. */
export function groupValues(rewards_N_G: readonly (readonly number[])[]): number[] {
  checkGroups('rewards_N_G', rewards_N_G);
  return rewards_N_G.map(mean);
}

export interface SolverAdvantages {
  /** A_sol = R - V(q_i); exactly 0 in groups whose rewards are all equal. */
  advantages_N_G: number[][];
  values_N: number[];
  /** Groups whose G rewards are all equal (no learning signal). */
  zeroStdGroups: number;
}

/**
 * A_sol(q_i, a_i^j) = R(q_i, a_i^j) - V(q_i). A group whose rewards are all equal has zero advantage (set exactly,
 * not left to rounding in the mean) and is counted in `zeroStdGroups`.
 */
export function solverAdvantages(rewards_N_G: readonly (readonly number[])[]): SolverAdvantages {
  const values_N = groupValues(rewards_N_G);
  let zeroStdGroups = 0;
  const advantages_N_G = rewards_N_G.map((group, i) => {
    if (group.every((r) => r === group[0])) {
      zeroStdGroups++;
      return group.map(() => 0);
    }
    return group.map((r) => r - values_N[i]);
  });
  return { advantages_N_G, values_N, zeroStdGroups };
}

/** The fraction of groups whose rewards are all equal (`frac_reward_zero_std`). */
export function fracZeroStd(rewards_N_G: readonly (readonly number[])[]): number {
  return solverAdvantages(rewards_N_G).zeroStdGroups / rewards_N_G.length;
}

function checkWeight(w: number): void {
  if (typeof w !== 'number' || !Number.isFinite(w)) throw new InputError(`self-reward weight w: expected a finite number, got ${w}`);
}

/** Checks R_Q is in the judge's range [0, 7] (a parse fallback is a score too). */
function checkSelfScores(name: string, xs: readonly number[]): void {
  xs.forEach((x, i) => {
    if (x < 0 || x > JUDGE_MAX_SCORE) throw new InputError(`${name}[${i}]: self-reward ${x} is outside [0, ${JUDGE_MAX_SCORE}]`);
  });
}

/**
 * The solver's reward: R + w * R_Q / 7 (LSP), or R when `selfRewards_N_G` is null (LSP-Zero, GRPO).
 * `selfRewards_N_G` are raw Box 3 scores 0..7, shaped like `rewards_N_G`.
 */
export function solverRewards(rewards_N_G: readonly (readonly number[])[], selfRewards_N_G: readonly (readonly number[])[] | null, w: number): number[][] {
  const G = checkGroups('rewards_N_G', rewards_N_G);
  checkWeight(w);
  if (selfRewards_N_G === null) return rewards_N_G.map((g) => [...g]);
  const GQ = checkGroups('selfRewards_N_G', selfRewards_N_G);
  if (selfRewards_N_G.length !== rewards_N_G.length || GQ !== G) {
    throw new InputError(`selfRewards_N_G is ${selfRewards_N_G.length}x${GQ} but rewards_N_G is ${rewards_N_G.length}x${G}`);
  }
  selfRewards_N_G.forEach((g, i) => checkSelfScores(`selfRewards_N_G[${i}]`, g));
  return rewards_N_G.map((g, i) => g.map((r, j) => r + w * SELF_REWARD_SCALE * selfRewards_N_G[i][j]));
}

/**
 * The challenger's reward: -V(q_i) + w * V_Q(q_i) / 7 (LSP), or -V(q_i) when `selfValues_N` is null (LSP-Zero).
 * `values_N` are group means of the verifier reward R alone; `selfValues_N` group means of the raw scores R_Q.
 */
export function challengerRewards(values_N: readonly number[], selfValues_N: readonly number[] | null, w: number): number[] {
  checkVector('values_N', values_N);
  checkWeight(w);
  if (selfValues_N === null) return values_N.map((v) => -v);
  checkVector('selfValues_N', selfValues_N);
  if (selfValues_N.length !== values_N.length) {
    throw new InputError(`selfValues_N has ${selfValues_N.length} entries but values_N has ${values_N.length}`);
  }
  checkSelfScores('selfValues_N', selfValues_N);
  return values_N.map((v, i) => -v + w * SELF_REWARD_SCALE * selfValues_N[i]);
}

/**
 * The challenger's advantage: its reward minus the batch mean. With the LSP-Zero reward -V(q_i) this is the
 * paper's A_ch(q_i) = Vbar - V(q_i); with the self-reward added, the mean of -V + w V_Q / 7 is the baseline.
 */
export function challengerAdvantages(challengerRewards_N: readonly number[]): number[] {
  checkVector('challengerRewards_N', challengerRewards_N);
  const baseline = mean(challengerRewards_N);
  if (challengerRewards_N.every((r) => r === challengerRewards_N[0])) return challengerRewards_N.map(() => 0);
  return challengerRewards_N.map((r) => r - baseline);
}
