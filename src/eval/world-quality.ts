/**
 * `selfplay eval --world-quality`: how well a world model plays its three roles, and the quality bar the default
 * model was made to meet ({@link qualityChecks}).
 *
 * - Challenger: samples at temperature 1.0 from the Box 1 prompt, per family (templates alternate); share that
 *   parse as a valid instance of the requested family, and the histogram of their difficulty levels.
 * - Solver: the held-out evaluation set (data/world-eval-v4.jsonl) at temperature 0.01; exact accuracy per family
 *   on the easy (levels 1-3) and hard (4-6) halves.
 * - Frontier: on a dev draw, greedy accuracy, mean@k and pass@k per family and level, and whether each family has a
 *   level where RL has something to sharpen (src/eval/world-frontier.ts).
 * - Judge: Box 3 prompts on a balanced set of valid and invalid/noisy instructions with mixed responses (a fresh
 *   seed of the pretraining distribution), at temperature 0.01: `<Score>` parse rate, Spearman rho against the
 *   rubric rules' score, and the AUC with which the score separates valid from invalid instructions.
 */
import { fillChallengerPrompt, parseJudgeScore } from '../prompts/paper.ts';
import type { ChatModel, Completer, Sampling } from '../generate/chat.ts';
import type { PeriodicEval } from '../train/lsp.ts';
import { mean } from '../util/math.ts';
import { Progress } from '../util/progress.ts';
import { corpusStream, type TrainingExample } from '../world/corpus.ts';
import { loadEvalSet } from '../world/evalset.ts';
import { FAMILY_NAMES, MAX_DIFFICULTY, type FamilyName } from '../world/types.ts';
import { getFamily, parseInstruction, reward } from '../world/world.ts';
import { frontierCheck, frontierQuality, frontierTable, type FrontierLevel } from './world-frontier.ts';

/** Ranks 1..n, ties get their average rank. */
function ranks(x: readonly number[]): number[] {
  const order = x.map((v, i) => [v, i] as const).sort((a, b) => a[0] - b[0]);
  const r = new Array<number>(x.length);
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && order[j + 1][0] === order[i][0]) j++;
    for (let k = i; k <= j; k++) r[order[k][1]] = (i + j) / 2 + 1;
    i = j + 1;
  }
  return r;
}

/** Spearman's rho: the Pearson correlation of the (tie-averaged) ranks; NaN when either side is constant. */
export function spearman(x: readonly number[], y: readonly number[]): number {
  const rx = ranks(x);
  const ry = ranks(y);
  const mx = mean(rx);
  const my = mean(ry);
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < rx.length; i++) {
    sxy += (rx[i] - mx) * (ry[i] - my);
    sxx += (rx[i] - mx) ** 2;
    syy += (ry[i] - my) ** 2;
  }
  return sxy / Math.sqrt(sxx * syy);
}

/** Area under the ROC curve: P(score of a positive > score of a negative), ties counting half. */
export function auc(scores: readonly number[], positive: readonly boolean[]): number {
  const pos = scores.filter((_, i) => positive[i]);
  const neg = scores.filter((_, i) => !positive[i]);
  let wins = 0;
  for (const p of pos) for (const n of neg) wins += p > n ? 1 : p === n ? 0.5 : 0;
  return wins / (pos.length * neg.length);
}

export interface ChallengerQuality {
  family: FamilyName;
  samples: number;
  validShare: number;
  /** Count of valid samples per difficulty level 1..MAX_DIFFICULTY. */
  levels: number[];
}

export interface SolverQuality {
  family: FamilyName;
  easy: number;
  hard: number;
  n: number;
}

export interface JudgeQuality {
  samples: number;
  parseRate: number;
  spearman: number;
  auc: number;
  meanScoreValid: number;
  meanScoreInvalid: number;
}

export interface WorldQuality {
  challenger: ChallengerQuality[];
  solver: SolverQuality[];
  judge: JudgeQuality;
  /** Per (family, level) on the frontier dev draw, with the k of mean@k and pass@k. */
  frontier: { k: number; levels: FrontierLevel[] };
}

const GREEDY: Omit<Sampling, 'maxTokens'> = { temperature: 0.01, topP: 1, topK: 0 };

export async function challengerQuality(model: ChatModel, perFamily: number, seed: number): Promise<ChallengerQuality[]> {
  const out: ChallengerQuality[] = [];
  for (const family of FAMILY_NAMES) {
    const spec = getFamily(family);
    const prompts = Array.from({ length: perFamily }, (_, i) => fillChallengerPrompt(spec.task, spec.templates[i % spec.templates.length]));
    // one template per batch, so the whole Box 1 prompt is a shared prefix
    const texts: string[] = [];
    for (const template of spec.templates) {
      const mine = prompts.filter((p) => p === fillChallengerPrompt(spec.task, template));
      const done = await model.complete(mine, { temperature: 1, topP: 1, topK: 0, maxTokens: 64 }, seed + texts.length);
      texts.push(...done.map((c) => c.text));
    }
    const levels = new Array<number>(MAX_DIFFICULTY).fill(0);
    let valid = 0;
    for (const t of texts) {
      const c = parseInstruction(family, t.trim());
      if (c.valid) {
        valid++;
        levels[c.difficulty - 1]++;
      }
    }
    out.push({ family, samples: texts.length, validShare: valid / texts.length, levels });
  }
  return out;
}

export async function solverQuality(model: ChatModel, seed: number, progress?: Progress): Promise<SolverQuality[]> {
  const items = loadEvalSet();
  const answers: string[] = [];
  for (let i = 0; i < items.length; i += 48) {
    const batch = items.slice(i, i + 48);
    const longest = Math.max(...batch.map((it) => model.tokenizer.encode(it.answer).length));
    const done = await model.complete(batch.map((it) => it.instruction), { ...GREEDY, maxTokens: longest + 8 }, seed + i);
    answers.push(...done.map((c) => c.text));
    progress?.update(answers.length);
  }
  return FAMILY_NAMES.map((family) => {
    const acc = (split: 'easy' | 'hard') => {
      const idx = items.map((it, i) => [it, i] as const).filter(([it]) => it.family === family && it.split === split);
      return idx.filter(([it, i]) => reward(it.instruction, answers[i].trim()) === 1).length / idx.length;
    };
    return { family, easy: acc('easy'), hard: acc('hard'), n: items.filter((it) => it.family === family).length };
  });
}

/**
 * The solver's exact accuracy on a fixed slice of the held-out set: the first `perFamily` items of each family,
 * spread over its levels (the file lists levels in order, 20 per level). For quick checks during training.
 */
export async function solverAccuracySlice(model: Completer, perFamily: number, seed: number): Promise<Record<string, number>> {
  const items = loadEvalSet();
  const slice = FAMILY_NAMES.flatMap((f) => {
    const mine = items.filter((it) => it.family === f);
    const stride = Math.max(1, Math.floor(mine.length / perFamily));
    return mine.filter((_, i) => i % stride === 0).slice(0, perFamily);
  });
  const done = await model.complete(slice.map((it) => it.instruction), { ...GREEDY, maxTokens: 48 }, seed);
  const correct = slice.map((it, i) => reward(it.instruction, done[i].text.trim()) === 1);
  const acc = (f?: string) => {
    const idx = slice.map((it, i) => [it, i] as const).filter(([it]) => !f || it.family === f);
    return idx.filter(([, i]) => correct[i]).length / idx.length;
  };
  return { 'eval/solver_accuracy': acc(), ...Object.fromEntries(FAMILY_NAMES.map((f) => [`eval/solver_accuracy/${f}`, acc(f)])) };
}

/**
 * The quick evaluation `selfplay train` runs every `evalEvery` iterations: the solver's accuracy on 10 held-out
 * items per family. Only for runs in the world (explicit task lists have no held-out answers): undefined otherwise.
 */
export function periodicSolverEval(s: { tasks: 'world' | unknown[]; seed: number }): PeriodicEval | undefined {
  return s.tasks === 'world' ? (policy) => solverAccuracySlice(policy, 10, s.seed) : undefined;
}

export async function judgeQuality(model: ChatModel, n: number, seed: number): Promise<JudgeQuality> {
  const stream = corpusStream({ seed, roles: { judge: 1 } });
  const examples: TrainingExample[] = Array.from({ length: n }, () => stream.next().value as TrainingExample);
  const done = await model.complete(examples.map((e) => e.prompt), { ...GREEDY, maxTokens: 128 }, seed, 32);
  const parsed = done.map((c) => parseJudgeScore(c.text).score);
  const ok = examples.map((e, i) => ({ e, s: parsed[i] })).filter((x) => x.s !== null) as { e: TrainingExample; s: number }[];
  const truth = ok.map((x) => parseJudgeScore(x.e.completion).score!);
  return {
    samples: n,
    parseRate: ok.length / n,
    spearman: spearman(ok.map((x) => x.s), truth),
    auc: auc(ok.map((x) => x.s), ok.map((x) => x.e.valid === true)),
    meanScoreValid: mean(ok.filter((x) => x.e.valid).map((x) => x.s)),
    meanScoreInvalid: mean(ok.filter((x) => !x.e.valid).map((x) => x.s)),
  };
}

export interface WorldQualityOptions {
  challengerPerFamily: number;
  judgeSamples: number;
  seed: number;
  /** Frontier dev items per family and level, samples per item, and the dev draw's seed. */
  frontier: { perLevel: number; k: number; seed: number };
  quiet?: boolean;
}

export async function worldQuality(model: ChatModel, o: WorldQualityOptions): Promise<WorldQuality> {
  const log = (s: string) => o.quiet || process.stderr.write(`${s}\n`);
  log(`challenger: ${o.challengerPerFamily} samples per family at temperature 1.0`);
  const challenger = await challengerQuality(model, o.challengerPerFamily, o.seed);
  log('solver: the held-out set at temperature 0.01');
  const solver = await solverQuality(model, o.seed, new Progress({ total: loadEvalSet().length, label: 'solver', quiet: o.quiet }));
  log(`judge: ${o.judgeSamples} Box 3 prompts at temperature 0.01`);
  const judge = await judgeQuality(model, o.judgeSamples, o.seed + 7);
  log(`frontier: ${o.frontier.perLevel} dev items per family and level, greedy and ${o.frontier.k} samples at temperature 1`);
  const frontier = { k: o.frontier.k, levels: await frontierQuality(model, o.frontier, o.quiet) };
  return { challenger, solver, judge, frontier };
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

/**
 * Families whose easy half (levels 1-3) must be imperfect but learnt: in [20%, 90%] greedy. Half of the six: world v4
 * pretrains the string families through level 3, so their easy half is meant to be solved (v3 asked 4 of 6, when the
 * easy half held an untrained level at 0%).
 */
export const EASY_IN_BAND_MIN = 3;

/** The default model's quality bar, checked: nine pass/fail lines (the names say each threshold). */
export function qualityChecks(q: WorldQuality): { name: string; pass: boolean; value: string }[] {
  const validAll = q.challenger.reduce((a, c) => a + c.validShare * c.samples, 0) / q.challenger.reduce((a, c) => a + c.samples, 0);
  const spread = q.challenger.every((c) => Math.max(...c.levels) <= 0.8 * c.levels.reduce((a, b) => a + b, 0));
  const inBand = q.solver.filter((s) => s.easy >= 0.2 && s.easy <= 0.9).length;
  const noneDead = q.solver.every((s) => s.easy > 0 || s.hard > 0);
  const harder = q.solver.reduce((a, s) => a + s.hard, 0) < q.solver.reduce((a, s) => a + s.easy, 0);
  return [
    { name: 'challenger valid >= 90%', pass: validAll >= 0.9, value: pct(validAll) },
    { name: 'challenger difficulty spread (no level > 80% of a family)', pass: spread, value: spread ? 'spread' : 'single mode' },
    { name: `solver easy accuracy in [20%, 90%] in >= ${EASY_IN_BAND_MIN} families`, pass: inBand >= EASY_IN_BAND_MIN, value: `${inBand} families` },
    { name: 'no family at 0% on both halves', pass: noneDead, value: noneDead ? 'none' : 'some' },
    { name: 'solver lower on the hard half', pass: harder, value: harder ? 'yes' : 'no' },
    { name: 'judge <Score> parses >= 95%', pass: q.judge.parseRate >= 0.95, value: pct(q.judge.parseRate) },
    { name: 'judge Spearman rho vs rubric >= 0.4', pass: q.judge.spearman >= 0.4, value: q.judge.spearman.toFixed(3) },
    { name: 'judge AUC valid vs invalid >= 0.9', pass: q.judge.auc >= 0.9, value: q.judge.auc.toFixed(3) },
    frontierCheck(q.frontier.levels),
  ];
}

/** Markdown tables of the numbers and the checks. */
export function qualityTable(q: WorldQuality): string {
  const lines = ['| family | challenger valid | levels 1..6 (valid samples) | solver easy | solver hard |', '|---|---|---|---|---|'];
  FAMILY_NAMES.forEach((f, i) => {
    const c = q.challenger[i];
    const s = q.solver[i];
    lines.push(`| ${f} | ${pct(c.validShare)} (${c.samples}) | ${c.levels.join(' / ')} | ${pct(s.easy)} | ${pct(s.hard)} |`);
  });
  const j = q.judge;
  lines.push('', '| judge | value |', '|---|---|');
  lines.push(`| samples | ${j.samples} |`, `| <Score> parse rate | ${pct(j.parseRate)} |`, `| Spearman rho vs rubric | ${j.spearman.toFixed(3)} |`);
  lines.push(`| AUC valid vs invalid | ${j.auc.toFixed(3)} |`, `| mean score valid / invalid | ${j.meanScoreValid.toFixed(2)} / ${j.meanScoreInvalid.toFixed(2)} |`);
  lines.push('', frontierTable(q.frontier.levels, q.frontier.k));
  lines.push('', '| check | result | value |', '|---|---|---|');
  for (const c of qualityChecks(q)) lines.push(`| ${c.name} | ${c.pass ? 'pass' : 'FAIL'} | ${c.value} |`);
  return lines.join('\n');
}
