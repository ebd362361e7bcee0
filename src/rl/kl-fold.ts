/**
 * The KL pull folded into per-token advantages, for engines whose loss only takes per-token advantages (the Tinker
 * API's `importance_sampling`: loss = -sum_t mask_t * exp(logp_t - q_t) * A_t, q the sampler's log-prob). On-policy
 * (logp = q) its gradient is -sum_t A_t grad logp_t. With r_t = q_t - ref_t (the sampled log-ratio to the frozen
 * reference) and c the row's KL coefficient, three folds of a row's advantage A:
 *
 *   sequence: A_t = A - c sum_t' r_t'         every token carries the whole sequence's log-ratio. The gradient is
 *             -(A - c sum r) grad S, exactly the local `reward` estimator's (src/rl/losses.ts) on-policy, sample by
 *             sample (test/rl-kl-fold.test.ts checks this on a tiny Llama within 1e-5).
 *   to-go:    A_t = A - c sum_{t' >= t} r_t'  the causal form (the Tinker cookbook's KL penalty with discount 1,
 *             without its batch-mean baseline): the same expected gradient, grad KL(pi || pi_ref), since a token's
 *             score has zero mean given its past; per sample it differs from `sequence`.
 *   token:    A_t = A - c r_t                 only the token's own log-ratio (the cookbook's default, discount 0,
 *             without its baseline): not the gradient of the sequence KL, even in expectation; for comparison only.
 *
 * Shapes are per row: `samplerLogprobs` and `refLogprobs` have one entry per sampled token.
 */
import { InputError } from '../errors.ts';

export const KL_FOLDS = ['sequence', 'to-go', 'token'] as const;
export type KlFold = (typeof KL_FOLDS)[number];

export function foldKlIntoAdvantages(advantage: number, klCoef: number, samplerLogprobs: readonly number[], refLogprobs: readonly number[], fold: KlFold = 'sequence'): number[] {
  if (samplerLogprobs.length !== refLogprobs.length) {
    throw new InputError(`foldKlIntoAdvantages: ${samplerLogprobs.length} sampler log-probs but ${refLogprobs.length} reference log-probs`);
  }
  const r_T = samplerLogprobs.map((q, t) => q - refLogprobs[t]);
  switch (fold) {
    case 'sequence': {
      const total = r_T.reduce((a, x) => a + x, 0);
      return r_T.map(() => advantage - klCoef * total);
    }
    case 'to-go': {
      const out = new Array<number>(r_T.length);
      let toGo = 0;
      for (let t = r_T.length - 1; t >= 0; t--) out[t] = advantage - klCoef * (toGo += r_T[t]);
      return out;
    }
    case 'token':
      return r_T.map((r) => advantage - klCoef * r);
    default:
      throw new InputError(`KL fold "${fold as string}": expected one of ${KL_FOLDS.join(', ')}`);
  }
}
