/**
 * The experiment's arms and budgets, and how an arm's training config is made, in one typed place.
 *
 * An arm's config is resolved by the same schema as `selfplay train` (src/rl/config.ts), from layers where later
 * ones win: the budget's run shape (iterations, N, G, checkpoints, token budgets) < the budget's `train` settings
 * (every arm) < the budget's `challenger` settings (arms with a challenger: LSP, LSP-Zero) < the arm's own
 * `overrides`. An ablation arm is the budget's LSP with one reward option flipped (on -> off, off -> on).
 */
import { resolveConfig, type Mode, type TrainConfig, type TrainConfigInput } from '../rl/config.ts';
import type { FrontierRange } from './frontier.ts';

/** The config fields a budget or an arm may set (names and meanings as in src/rl/config.ts). */
export type ArmOverrides = Partial<
  Pick<
    TrainConfigInput,
    'lr' | 'N' | 'G' | 'iterations' | 'betaSolver' | 'betaChallenger' | 'verifierReward' | 'challengerReward' | 'invalidQueryPenalty' | 'repetitionPenalty' | 'selfRewardWeight'
  >
>;

/** The challenger reward options an ablation arm flips. */
export const ABLATED = ['invalidQueryPenalty', 'challengerReward', 'repetitionPenalty'] as const;
export type Ablated = (typeof ABLATED)[number];

/** The value an ablation arm gives an option that is off in the budget (and "off" for one that is on). */
export const ABLATION_ON = { invalidQueryPenalty: 1, challengerReward: 'uncertainty', repetitionPenalty: 0.5 } as const;
const OFF = { invalidQueryPenalty: 0, challengerReward: 'paper', repetitionPenalty: 0 } as const;

export const OPTION_LABEL: Record<Ablated, string> = {
  invalidQueryPenalty: 'invalid-query penalty',
  challengerReward: 'uncertainty reward',
  repetitionPenalty: 'repetition penalty',
};

export interface ArmSpec {
  name: string;
  label: string;
  mode: Mode;
  /** The model training starts from (and its frozen reference): the base model or the GRPO arm's result. */
  start: 'base' | 'grpo';
  /** The paper's AlpacaEval win rate (%) against its base model (v1, GPT-4o judge); null: not in the paper. */
  paperWinRate: number | null;
  /** main: the paper's arms; ablation: the budget's LSP with `ablate` flipped, for `ablationIterations`. */
  kind: 'main' | 'ablation';
  ablate?: Ablated;
  /** This arm's own settings, over the budget's. */
  overrides: ArmOverrides;
}

/** Every arm a budget may list, in training order (LSP from GRPO needs GRPO first). */
export const ALL_ARMS: readonly ArmSpec[] = [
  { name: 'grpo', label: 'GRPO (with data)', mode: 'grpo', start: 'base', paperWinRate: 40.9, kind: 'main', overrides: {} },
  { name: 'lsp-zero', label: 'LSP-Zero', mode: 'lsp-zero', start: 'base', paperWinRate: 40.1, kind: 'main', overrides: {} },
  { name: 'lsp', label: 'LSP', mode: 'lsp', start: 'base', paperWinRate: 40.6, kind: 'main', overrides: {} },
  { name: 'lsp-from-grpo', label: 'LSP from GRPO', mode: 'lsp', start: 'grpo', paperWinRate: 43.1, kind: 'main', overrides: {} },
  ...ABLATED.map((option): ArmSpec => ({ name: `lsp-flip-${option}`, label: `LSP, ${OPTION_LABEL[option]} flipped`, mode: 'lsp', start: 'base', paperWinRate: null, kind: 'ablation', ablate: option, overrides: {} })),
  // LSP-Zero under the paper's own challenger reward (no invalid-query penalty): with "LSP, invalid-query penalty
  // flipped" it tests the paper's validity claim as the paper ran it, where the self-reward alone must keep queries valid
  { name: 'lsp-zero-flip-invalidQueryPenalty', label: 'LSP-Zero, invalid-query penalty flipped', mode: 'lsp-zero', start: 'base', paperWinRate: null, kind: 'ablation', ablate: 'invalidQueryPenalty', overrides: {} },
];

export const BUDGET_NAMES = ['tiny', 'small', 'full'] as const;
export type Budget = (typeof BUDGET_NAMES)[number];

export interface BudgetSpec {
  /** Training iterations of every main arm (LSP from GRPO gets as many again, on top of GRPO's). */
  iterations: number;
  /** Iterations of the ablation arms (fewer, so the whole budget fits its time). */
  ablationIterations: number;
  N: number;
  G: number;
  checkpointEvery: number;
  /** The arms trained, by name (ALL_ARMS order). */
  arms: readonly string[];
  /** Settings of every arm. */
  train: ArmOverrides;
  /** Settings of the arms with a challenger (LSP, LSP-Zero, the ablations); the ablations flip one of them. */
  challenger: ArmOverrides;
  /** Size of GRPO's fixed prompt set. */
  grpoPrompts: number;
  /** Keep only GRPO prompts of levels where the base's exact success at temperature 1 is in [lo, hi]; null = all. */
  grpoFrontier: FrontierRange | null;
  /** Held-out items (spread over families and levels of the larger held-out set); null = all of them. */
  evalItems: number | null;
  /** Samples per item at temperature 1 for mean@k and maj@k. */
  evalK: number;
  /** Answer budget in evaluation (world answers are a word or a number). */
  evalMaxTokens: number;
  /** The frontier probe: instructions per (family, level), and samples of each at temperature 1. */
  frontierProbe: { items: number; k: number };
  /** Max new tokens per role in training; null = the training config's defaults. */
  maxTokens: { challenger: number; solver: number; judge: number } | null;
}

/** What every budget shares: exact 0/1 reward, and the challenger settings LSP runs with (one-line reason each). */
const TRAIN: ArmOverrides = {
  verifierReward: 'exact', // partial credit paid count's near-guesses; exact pays only competence
};
const CHALLENGER: ArmOverrides = {
  invalidQueryPenalty: 1, // -V(q) alone makes an invalid query the best move (validity 97.5% -> 75% in 100 iterations)
  challengerReward: 'paper', // the paper's -V(q); the ablation measures R-Zero's uncertainty reward instead
  repetitionPenalty: 0.5, // half the reward range for a batch of copies: diversity without drowning -V(q)
};

/**
 * The budgets, in one place. `small` must finish in under 60 minutes on 2 cores for the default model, the
 * ablation included; `tiny` exists for the end-to-end test only.
 */
export const BUDGETS: Record<Budget, BudgetSpec> = {
  tiny: {
    iterations: 2, ablationIterations: 1, N: 2, G: 2, checkpointEvery: 1, arms: ALL_ARMS.map((a) => a.name), train: TRAIN, challenger: CHALLENGER,
    grpoPrompts: 16, grpoFrontier: null, evalItems: 12, evalK: 2, evalMaxTokens: 6, frontierProbe: { items: 1, k: 2 }, maxTokens: { challenger: 12, solver: 6, judge: 12 },
  },
  // small (docs/results/sweep.md, a dev set of the v4 model's frontier levels): GRPO at lr 3e-5 gained the most mean@4
  // (+4.3 points in 150 iterations; 1e-4 lost 1.3 in 40); the LSP arms at 1e-5, which cost them 1 greedy point where
  // 3e-5 cost 4 (neither moved mean@4 in 40-80 iterations). N 8 x G 4: N 32 x G 8 gained less per sample. 80
  // iterations per main arm and 24 per ablation arm, and all 2520 held-out items with 4 samples each, fit an hour on
  // one core per seed (an LSP iteration ~9 s, a GRPO one ~1.3 s), so two seeds run side by side on 2 cores
  small: {
    iterations: 80, ablationIterations: 24, N: 8, G: 4, checkpointEvery: 20, arms: ['grpo', 'lsp-zero', 'lsp', ...ABLATED.map((o) => `lsp-flip-${o}`), 'lsp-zero-flip-invalidQueryPenalty'], train: { ...TRAIN, lr: 3e-5 }, challenger: { ...CHALLENGER, lr: 1e-5 },
    grpoPrompts: 1200, grpoFrontier: { lo: 0.2, hi: 0.8 }, evalItems: null, evalK: 4, evalMaxTokens: 64, frontierProbe: { items: 12, k: 8 }, maxTokens: null,
  },
  full: {
    iterations: 200, ablationIterations: 100, N: 8, G: 4, checkpointEvery: 20, arms: ALL_ARMS.map((a) => a.name), train: { ...TRAIN, lr: 1e-4 }, challenger: CHALLENGER,
    grpoPrompts: 512, grpoFrontier: { lo: 0.2, hi: 0.8 }, evalItems: null, evalK: 8, evalMaxTokens: 64, frontierProbe: { items: 12, k: 8 }, maxTokens: null,
  },
};

/** The budget's arms, in ALL_ARMS order. */
export function budgetArms(b: BudgetSpec): ArmSpec[] {
  return ALL_ARMS.filter((a) => b.arms.includes(a.name));
}

/** The ablation arm's one flipped option: off where the budget has it on, else on. */
export function flipped(b: BudgetSpec, option: Ablated): ArmOverrides {
  const now = b.challenger[option] ?? OFF[option];
  return { [option]: now === OFF[option] ? ABLATION_ON[option] : OFF[option] };
}

/** The settings an arm adds to its run shape: budget train < budget challenger < ablation flip < arm overrides. */
export function armOverrides(b: BudgetSpec, arm: ArmSpec): ArmOverrides {
  const challenger = arm.mode === 'grpo' ? {} : b.challenger;
  const flip = arm.ablate ? flipped(b, arm.ablate) : {};
  const iterations = arm.kind === 'ablation' ? { iterations: b.ablationIterations } : {};
  return { ...b.train, ...challenger, ...iterations, ...flip, ...arm.overrides };
}

export interface ArmRun {
  /** The model the arm starts from. */
  model: string;
  out: string;
  seed: number;
  quiet: boolean;
  /** GRPO's prompt file (read in mode grpo only). */
  promptsFile: string;
}

/** The arm's training config, resolved by the same schema as `selfplay train`. */
export function armConfig(b: BudgetSpec, arm: ArmSpec, run: ArmRun): TrainConfig {
  const sampling = b.maxTokens && { challenger: { maxTokens: b.maxTokens.challenger }, solver: { maxTokens: b.maxTokens.solver }, judge: { maxTokens: b.maxTokens.judge } };
  return resolveConfig(
    {},
    {
      model: run.model,
      mode: arm.mode,
      out: run.out,
      iterations: b.iterations,
      N: b.N,
      G: b.G,
      seed: run.seed,
      checkpointEvery: b.checkpointEvery,
      quiet: run.quiet,
      promptsFile: arm.mode === 'grpo' ? run.promptsFile : undefined,
      sampling: sampling || undefined,
      ...armOverrides(b, arm),
    },
    { flagsName: `experiment arm ${arm.name}` },
  );
}
