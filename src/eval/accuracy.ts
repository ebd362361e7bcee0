/**
 * Accuracy on the world's held-out items, as RL can change it: greedy accuracy (temperature 0), mean accuracy over
 * k samples at temperature 1 (the policy GRPO and LSP train) and maj@k (the majority answer of those k samples),
 * per family and level, per family and overall; against a baseline, paired tests per group (src/eval/paired.ts).
 * An answer counts when the verifier gives it full credit (the exact reference, surrounding spaces ignored).
 */
import { InputError } from '../errors.ts';
import type { ChatModel } from '../generate/chat.ts';
import { mean } from '../util/math.ts';
import { Progress } from '../util/progress.ts';
import { scoreAnswer } from '../world/world.ts';
import { majorityAnswer, pairedBinary, pairedRates, type PairedBinary, type PairedRates } from './paired.ts';
import { generateAnswers } from './pairwise.ts';
import type { EvalPrompt } from './sets.ts';
import type { BootstrapOptions } from './stats.ts';

export interface AccuracySettings {
  /** Samples per item at temperature 1. */
  k: number;
  maxTokens: number;
  seed: number;
  batchSize?: number;
}

/** A model's answers: one greedy answer and k samples per item, in item order. */
export interface ModelAnswers {
  greedy: string[];
  samples_I_K: string[][];
}

/** One item's outcomes. */
export interface ItemOutcome {
  id: string;
  family: string;
  difficulty: number;
  greedy: boolean;
  /** Exact answers among the k samples / k. */
  meanK: number;
  maj: boolean;
}

/** The model's greedy answers and k samples per item (rows sorted by length and batched by generateAnswers). */
export async function answerItems(chat: ChatModel, prompts: readonly EvalPrompt[], s: AccuracySettings, label?: { name: string; quiet?: boolean }): Promise<ModelAnswers> {
  const g = { maxTokens: s.maxTokens, batchSize: s.batchSize ?? 64 };
  const bar = (what: string, total: number) => (label ? new Progress({ total, label: `${label.name}: ${what}`, quiet: label.quiet }) : undefined);
  const p1 = bar('greedy', prompts.length);
  const greedy = await generateAnswers(chat, prompts, { ...g, temperature: 0, seed: s.seed }, p1);
  p1?.finish();
  const rows = prompts.flatMap((p) => Array<EvalPrompt>(s.k).fill(p));
  const p2 = bar(`${s.k} samples at temperature 1`, rows.length);
  const flat = await generateAnswers(chat, rows, { ...g, temperature: 1, seed: s.seed + 1 }, p2);
  p2?.finish();
  return { greedy, samples_I_K: prompts.map((_, i) => flat.slice(i * s.k, (i + 1) * s.k)) };
}

/** Scores a model's answers with the verifier. */
export function itemOutcomes(prompts: readonly EvalPrompt[], a: ModelAnswers): ItemOutcome[] {
  return prompts.map((p, i) => {
    if (!p.instance) throw new InputError(`accuracy: item ${p.id} has no world instance; accuracy needs a world set`);
    const right = (answer: string) => scoreAnswer(p.instance!, answer) >= 1;
    const samples = a.samples_I_K[i];
    return {
      id: p.id,
      family: p.instance.family,
      difficulty: p.instance.difficulty,
      greedy: right(a.greedy[i]),
      meanK: samples.filter(right).length / samples.length,
      maj: right(majorityAnswer(samples)),
    };
  });
}

/** The groups reported: every (family, level), every family, and all items; item indices per group. */
export function accuracyGroups(items: readonly ItemOutcome[]): { group: string; family: string; difficulty: number | null; idx: number[] }[] {
  const families = [...new Set(items.map((it) => it.family))];
  const out: { group: string; family: string; difficulty: number | null; idx: number[] }[] = [];
  const where = (f: (it: ItemOutcome) => boolean) => items.flatMap((it, i) => (f(it) ? [i] : []));
  for (const family of families) {
    const levels = [...new Set(items.filter((it) => it.family === family).map((it) => it.difficulty))].sort((a, b) => a - b);
    for (const d of levels) out.push({ group: `${family} L${d}`, family, difficulty: d, idx: where((it) => it.family === family && it.difficulty === d) });
    out.push({ group: family, family, difficulty: null, idx: where((it) => it.family === family) });
  }
  out.push({ group: 'overall', family: 'overall', difficulty: null, idx: items.map((_, i) => i) });
  return out;
}

export interface AccuracyRow {
  group: string;
  family: string;
  difficulty: number | null;
  n: number;
  greedy: number;
  meanK: number;
  majK: number;
}

/** Accuracy per group. */
export function accuracyRows(items: readonly ItemOutcome[]): AccuracyRow[] {
  return accuracyGroups(items).map(({ group, family, difficulty, idx }) => ({
    group,
    family,
    difficulty,
    n: idx.length,
    greedy: mean(idx.map((i) => Number(items[i].greedy))),
    meanK: mean(idx.map((i) => items[i].meanK)),
    majK: mean(idx.map((i) => Number(items[i].maj))),
  }));
}

export interface PairedRow {
  group: string;
  family: string;
  difficulty: number | null;
  greedy: PairedBinary;
  meanK: PairedRates;
  majK: PairedBinary;
}

/** Paired tests of the model against the baseline per group; both outcome lists are of the same items in order. */
export function pairedRows(model: readonly ItemOutcome[], base: readonly ItemOutcome[], opts: BootstrapOptions = {}): PairedRow[] {
  model.forEach((m, i) => {
    if (base[i]?.id !== m.id) throw new InputError(`paired accuracy: item ${i} is ${m.id} for the model but ${base[i]?.id} for the baseline`);
  });
  if (base.length !== model.length) throw new InputError(`paired accuracy: ${model.length} model items, ${base.length} baseline items`);
  return accuracyGroups(model).map(({ group, family, difficulty, idx }) => {
    const pick = <T>(xs: readonly ItemOutcome[], f: (it: ItemOutcome) => T) => idx.map((i) => f(xs[i]));
    return {
      group,
      family,
      difficulty,
      greedy: pairedBinary(pick(model, (it) => it.greedy), pick(base, (it) => it.greedy), opts),
      meanK: pairedRates(pick(model, (it) => it.meanK), pick(base, (it) => it.meanK), opts),
      majK: pairedBinary(pick(model, (it) => it.maj), pick(base, (it) => it.maj), opts),
    };
  });
}

/**
 * `limit` items spread evenly over the set's order (the world files run family by family, level by level, so every
 * family and level keeps its share); all of them when limit is undefined or not smaller.
 */
export function spreadLimit<T>(items: readonly T[], limit: number | undefined): T[] {
  if (limit === undefined || limit >= items.length) return [...items];
  return Array.from({ length: limit }, (_, i) => items[Math.floor((i * items.length) / limit)]);
}
