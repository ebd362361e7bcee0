/**
 * The defaults sweep (scripts/sweep.ts): a few short GRPO-frontier and LSP runs that differ in learning rate, N, G
 * or iterations, each measured on the dev set (src/experiment/dev.ts: a seeded draw of the frontier levels,
 * disjoint from the held-out sets and from GRPO's prompts) against the base model with paired tests. Nothing here
 * reads the held-out set. `sweepMarkdown` renders docs/results/sweep.md from the measured rows.
 */
import type { PairedRow } from '../eval/accuracy.ts';
import { finiteMean } from '../util/math.ts';
import type { ArmOverrides } from './arms.ts';
import type { LevelSuccess } from './frontier.ts';
import { diffCell } from './paper-tables.ts';
import { num, pct } from './results.ts';

export interface SweepRun {
  name: string;
  mode: 'grpo' | 'lsp';
  /** lr, N, G, iterations, and LSP's challenger reward where it differs (over the small budget's settings). */
  overrides: Required<Pick<ArmOverrides, 'lr' | 'N' | 'G' | 'iterations'>> & Pick<ArmOverrides, 'challengerReward'>;
}

/** The runs, one at a time, in this order (each one short: the machine is shared). */
export const SWEEP_RUNS: readonly SweepRun[] = [
  { name: 'grpo-lr3e-5-g4', mode: 'grpo', overrides: { lr: 3e-5, N: 8, G: 4, iterations: 40 } },
  { name: 'grpo-lr1e-4-g4', mode: 'grpo', overrides: { lr: 1e-4, N: 8, G: 4, iterations: 40 } },
  { name: 'grpo-lr3e-5-g8', mode: 'grpo', overrides: { lr: 3e-5, N: 8, G: 8, iterations: 40 } },
  { name: 'lsp-lr3e-5-g4', mode: 'lsp', overrides: { lr: 3e-5, N: 8, G: 4, iterations: 40 } },
  { name: 'grpo-lr1e-4-g4-100it', mode: 'grpo', overrides: { lr: 1e-4, N: 8, G: 4, iterations: 100 } },
  { name: 'grpo-lr1e-5-g4-150it', mode: 'grpo', overrides: { lr: 1e-5, N: 8, G: 4, iterations: 150 } },
  { name: 'grpo-lr3e-5-g4-150it', mode: 'grpo', overrides: { lr: 3e-5, N: 8, G: 4, iterations: 150 } },
  { name: 'grpo-n32-g8-lr3e-5-60it', mode: 'grpo', overrides: { lr: 3e-5, N: 32, G: 8, iterations: 60 } },
  { name: 'lsp-lr1e-5-g4-80it', mode: 'lsp', overrides: { lr: 1e-5, N: 8, G: 4, iterations: 80 } },
  { name: 'lsp-uncertainty-lr1e-5-g4-80it', mode: 'lsp', overrides: { lr: 1e-5, N: 8, G: 4, iterations: 80, challengerReward: 'uncertainty' } },
  { name: 'lsp-uncertainty-lr3e-5-g4', mode: 'lsp', overrides: { lr: 3e-5, N: 8, G: 4, iterations: 40, challengerReward: 'uncertainty' } },
];

/** What was chosen from the rows, written after reading them (the doc's last section; src/rl/config.ts and arms.ts cite it). */
export const SWEEP_CHOICES: readonly string[] = [
  'GRPO learning rate 3e-5 (the small budget\'s GRPO arm): 150 iterations gained +4.3 points mean@4 [+1.9, +7.0] (44 items up, 17 ' +
    'down, p < 0.001); 1e-5 gained +2.6 in as many; 1e-4 lost 1.3 in 40 (it had gained +2.9 on the v3 model, whose frontier was ' +
    'mostly count\'s guesses). Greedy accuracy moved +1.0 to +1.5, inside its interval: the gain is in the sampled policy RL trains.',
  'LSP learning rate 1e-5 (the small budget\'s LSP and LSP-Zero arms, and `selfplay train`\'s default): no LSP run moved mean@4 on ' +
    'the dev set (-0.1 at 3e-5 in 40 iterations and at 1e-5 in 80; -1.3 with the uncertainty reward at 3e-5); 3e-5 cost 4.0 greedy ' +
    'points [-8.0, 0.0] and let validity fall to 85%, 1e-5 cost 1.0 and kept 93.8%. LSP\'s challenger spends most queries on ' +
    'levels the model already solves or cannot (about one group in five had mixed rewards), so its solver sees little of the frontier.',
  'N 8 x G 4 (config defaults, kept): N 32 x G 8 at 3e-5 used 3x the samples of the 150-iteration N 8 run for +3.3 points.',
  'Iterations: 150 GRPO iterations gained where 40 did not; the small budget gives every main arm 80 (a time limit: an LSP ' +
    'iteration costs ~9 s on one core, and two seeds run side by side) and each ablation arm 24.',
  'The dev set has 5 frontier levels chosen by the probe (uppercase 3, sort 3-4, largest 2 and 4), 40 items each; add\'s levels ' +
    'fell just outside [0.2, 0.8] on the probe. Every figure here is one seed.',
];

export interface SweepRow extends SweepRun {
  trainSeconds: number;
  /** The dev set's overall paired row against the base (greedy, mean@k, maj@k). */
  dev: PairedRow;
  /** Challenger valid share over the last 10 iterations (LSP only). */
  validLast: number | null;
  /** Mean KL of the solver over the last 10 iterations. */
  klSolver: number;
}

export interface SweepResults {
  command: string;
  date: string;
  machine: string;
  model: string;
  seed: number;
  k: number;
  devItems: number;
  frontier: LevelSuccess[];
  rows: SweepRow[];
}

/** Means of a metric over the last `n` iterations. */
export function lastMean(metrics: readonly Record<string, unknown>[], key: string, n = 10): number {
  return finiteMean(metrics.slice(-n).map((m) => (typeof m[key] === 'number' ? (m[key] as number) : NaN)));
}


export function sweepMarkdown(r: SweepResults, choices: readonly string[] = SWEEP_CHOICES): string {
  const header = ['run', 'mode', 'lr', 'N', 'G', 'iterations', 'train time', 'greedy diff', `mean@${r.k} diff`, `maj@${r.k} diff`, 'valid (last 10)', 'KL solver'];
  const rows = r.rows.map((x) => [
    x.name, x.mode, String(x.overrides.lr), String(x.overrides.N), String(x.overrides.G), String(x.overrides.iterations), `${Math.round(x.trainSeconds)} s`,
    diffCell(x.dev.greedy), diffCell(x.dev.meanK), diffCell(x.dev.majK), x.validLast === null ? '–' : pct(x.validLast), num(x.klSolver),
  ]);
  const base = r.rows[0]?.dev;
  const levels = r.frontier.map((l) => `${l.family} L${l.difficulty} (${pct(l.rate)}%)`).join(', ');
  return [
    '# Defaults sweep (dev set)',
    '',
    `A small sweep on a shared 2-core machine (other jobs ran beside it, so times are rough), made ${r.date.slice(0, 10)} by:`,
    '',
    '```',
    r.command,
    '```',
    '',
    `Model \`${r.model}\`, seed ${r.seed}, ${r.machine}. Every run starts from the base model with the small budget's other ` +
      'settings (exact 0/1 verifier reward; GRPO prompts filtered to the frontier levels; LSP with the invalid-query penalty and ' +
      'repetition penalty of the budget) and changes only the columns shown.',
    '',
    `**Dev set, not the held-out set:** ${r.devItems} instructions drawn from the world generator with their own seed ` +
      `(src/experiment/dev.ts), of the base model's frontier levels (exact success at temperature 1 in [0.2, 0.8] on a ` +
      `separate probe): ${levels}. The items are disjoint from both held-out files and from GRPO's prompt set. ` +
      `Each model answers each item greedily and ${r.k} times at temperature 1; differences are against the base on the same items ` +
      '(percentage points, paired bootstrap 95% interval, items gained/lost, exact sign test p).',
    '',
    base ? `Base on the dev set: greedy ${pct(base.greedy.baseAcc)}%, mean@${r.k} ${pct(base.meanK.baseMean)}%, maj@${r.k} ${pct(base.majK.baseAcc)}%.` : '',
    '',
    `| ${header.join(' | ')} |`,
    `|${header.map((_, i) => (i < 2 ? '---' : '---:')).join('|')}|`,
    ...rows.map((x) => `| ${x.join(' | ')} |`),
    '',
    ...(choices.length ? ['## What was chosen', '', ...choices.map((c) => `- ${c}`), ''] : []),
  ].join('\n');
}
