/**
 * The LSP policy loss as a LossSpec for the train graph (src/model/graphs.ts), with the KL pull to the frozen
 * reference in one of three estimators. Per row b (one sampled sequence: a challenger query or a solver answer):
 *
 *   loss = sum_b [ -adv_b * S_b + KL_b ],   S_b = sum_t mask_bt * logp_bt   (the sequence log-prob of the sample)
 *
 * Inputs, all prepared on the host (T' is the log-prob width: T-1 for the plain graph, T for the shared prefix):
 *   advantages [B]      A already divided by its normaliser: A_sol / (N G) for solver rows, alpha_ch A_ch / N for
 *                       challenger rows. The sum over rows then is L = L_sol + alpha_ch L_ch, and summing the
 *                       gradients of micro-batches gives the gradient of the whole batch.
 *   token_mask [B, T']  1 on the sampled completion tokens that count; 0 on prompt and padding.
 *   ref_logprobs [B, T'] log pi_ref of the same tokens (any value where the mask is 0).
 *   kl_coef [B]         beta of the row's role times the same normaliser (beta_sol / (N G), alpha_ch beta_ch / N).
 *
 * Minimising the loss ascends the advantage-weighted log-likelihood (the paper's -A pi/sg(pi) has this gradient)
 * and pulls pi towards pi_ref. Per row, with r_bt = logp_bt - ref_bt and KL_b per estimator:
 *   reward  (default): c_b * sg(sum_t mask r_bt) * S_b. The sampled log-ratio enters as a stop-gradient penalty on
 *            the advantage; E_pi[sg(log pi/pi_ref) grad log pi] = grad KL(pi || pi_ref) exactly (sequence level).
 *   k3:      c_b * sum_t mask (exp(-r_bt) + r_bt - 1), the GRPO/TRL per-token loss. Its value is an unbiased,
 *            non-negative estimate of KL(pi || pi_ref), but its expected gradient on samples from pi is
 *            sum_t E_prefix~pi[grad KL(pi_ref(.|prefix) || pi(.|prefix))]: the per-token KL in the other direction,
 *            equal to grad KL(pi || pi_ref) only to first order as pi -> pi_ref (test/rl-losses.test.ts checks this).
 *   literal: c_b * sum_t mask r_bt, differentiated as printed in the paper. Its gradient c_b grad S_b has
 *            expectation 0 on samples from pi: it regularises nothing. For ablation only.
 */
import { InputError, invariant } from '../errors.ts';
import type { LossContext, LossSpec } from '../model/graphs.ts';
import { add, exp, mul, neg, reduceSum, stopGradient, sub, type Tensor } from '../tensor/index.ts';

export const KL_ESTIMATORS = ['reward', 'k3', 'literal'] as const;
/** How the KL(pi || pi_ref) pull enters the loss; see the module comment. */
export type KlEstimator = (typeof KL_ESTIMATORS)[number];

/** Names of the loss's extra graph inputs. */
export const POLICY_INPUTS = { advantages: 'advantages', tokenMask: 'token_mask', refLogprobs: 'ref_logprobs', klCoef: 'kl_coef' } as const;

interface PolicyTerms {
  logp_B_T: Tensor;
  mask_B_T: Tensor;
  ref_B_T: Tensor;
  klCoef_B: Tensor;
  /** S_b = sum_t mask * logp: the sampled sequence's log-prob. */
  seqLogp_B: Tensor;
}

/** sum_b KL_b for one estimator (see the module comment). */
function klPenalty(estimator: KlEstimator, p: PolicyTerms): Tensor {
  const logRatio_B_T = mul(p.mask_B_T, sub(p.logp_B_T, p.ref_B_T)); // 0 where masked
  switch (estimator) {
    case 'reward': {
      const seqLogRatio_B = stopGradient(reduceSum(logRatio_B_T, 1));
      return reduceSum(mul(mul(p.klCoef_B, seqLogRatio_B), p.seqLogp_B));
    }
    case 'k3': {
      // masked first, so exp never sees padding log-probs (exp(large) * 0 would be NaN)
      const k3_B_T = sub(add(exp(neg(logRatio_B_T)), logRatio_B_T), 1);
      return reduceSum(mul(p.klCoef_B, reduceSum(mul(p.mask_B_T, k3_B_T), 1)));
    }
    case 'literal':
      return reduceSum(mul(p.klCoef_B, reduceSum(logRatio_B_T, 1)));
  }
}

function buildPolicyLoss(estimator: KlEstimator, { logprobs_B_T1: logp_B_T, input }: LossContext): Tensor {
  const [B, T] = logp_B_T.shape;
  const advantages_B = input(POLICY_INPUTS.advantages, [B]);
  const mask_B_T = input(POLICY_INPUTS.tokenMask, [B, T]);
  const ref_B_T = input(POLICY_INPUTS.refLogprobs, [B, T]);
  const klCoef_B = input(POLICY_INPUTS.klCoef, [B]);
  const seqLogp_B = reduceSum(mul(mask_B_T, logp_B_T), 1);
  const policyGradient = neg(reduceSum(mul(advantages_B, seqLogp_B)));
  return add(policyGradient, klPenalty(estimator, { logp_B_T, mask_B_T, ref_B_T, klCoef_B, seqLogp_B }));
}

/** The policy loss with the given KL estimator; its name (`policy_<estimator>`) keys the compiled-graph cache. */
export function policyLoss(estimator: KlEstimator = 'reward'): LossSpec {
  if (!KL_ESTIMATORS.includes(estimator)) throw new InputError(`KL estimator "${estimator}": expected one of ${KL_ESTIMATORS.join(', ')}`);
  return { name: `policy_${estimator}`, build: (ctx) => buildPolicyLoss(estimator, ctx) };
}

export interface KlEstimate {
  /** Mean over sequences of sum_t (logp - ref): the plain Monte Carlo estimate of KL(pi || pi_ref). */
  kl: number;
  /** Mean over sequences of sum_t (exp(ref - logp) - (ref - logp) - 1): the k3 estimate, never negative. */
  k3: number;
}

type Rows = readonly (readonly number[])[];

/**
 * Host-side KL metrics for sequences sampled from pi: per-sequence sums over tokens, averaged over sequences.
 * `logprobs[b][t]` and `refLogprobs[b][t]` are log pi and log pi_ref of the same sampled token; `mask` (same
 * shape, default all ones) selects the tokens that count. Zero sequences give zeros.
 */
export function klEstimate(logprobs: Rows, refLogprobs: Rows, mask?: Rows): KlEstimate {
  invariant(
    logprobs.length === refLogprobs.length && (!mask || mask.length === logprobs.length),
    `klEstimate: ${logprobs.length} log-prob rows, ${refLogprobs.length} reference rows${mask ? `, ${mask.length} mask rows` : ''}`,
  );
  let kl = 0;
  let k3 = 0;
  logprobs.forEach((row, b) => {
    invariant(
      refLogprobs[b].length === row.length && (!mask || mask[b].length === row.length),
      `klEstimate: row ${b} has ${row.length} log-probs, ${refLogprobs[b].length} reference log-probs${mask ? `, ${mask[b].length} mask entries` : ''}`,
    );
    row.forEach((lp, t) => {
      const m = mask ? mask[b][t] : 1;
      if (m === 0) return;
      const r = lp - refLogprobs[b][t];
      kl += m * r;
      k3 += m * (Math.exp(-r) + r - 1);
    });
  });
  const n = Math.max(1, logprobs.length);
  return { kl: kl / n, k3: k3 / n };
}
