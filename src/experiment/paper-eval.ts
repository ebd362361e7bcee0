/**
 * The experiment's evaluation: every model (base and arms) answers the held-out world items once greedily and k
 * times at temperature 1 (src/eval/accuracy.ts; the answers are cached on disk, so a resumed experiment does not
 * regenerate them). Then, per arm against the base: the verifier's win rate on the greedy answers (per family and
 * overall, bootstrap intervals, src/eval/stats.ts), the same win rate of the sampled policy (per item, the model whose
 * k answers at temperature 1 are right more often wins; the policy RL trains, where its gains show first), and paired
 * accuracy tests of greedy, mean@k and maj@k (items gained/lost, exact sign test = McNemar, paired bootstrap interval
 * of the difference; src/eval/paired.ts). Each
 * win-rate comparison is also written as an ordinary `selfplay eval` report.
 */
import fs from 'node:fs';
import path from 'node:path';
import { accuracyRows, answerItems, type AccuracyRow, type AccuracySettings, itemOutcomes, type ItemOutcome, type ModelAnswers, pairedRows, type PairedRow, spreadLimit } from '../eval/accuracy.ts';
import { invariant } from '../errors.ts';
import type { EvalReport } from '../eval/pairwise.ts';
import { writeReport } from '../eval/report.ts';
import { worldPrompts, type EvalPrompt } from '../eval/sets.ts';
import { summarize, type JudgedItem, type SubsetStats } from '../eval/stats.ts';
import { VerifierJudge } from '../eval/judges/verifier.ts';
import { ChatModel } from '../generate/chat.ts';
import { readJson, writeJsonAtomic } from '../train/run-folder.ts';
import { LARGE_EVAL_SET_PATH } from '../world/evalset.ts';
import { experimentRuntime } from './runner.ts';

export interface ModelEval {
  name: string;
  dir: string;
  /** Per (family, level), per family and overall: greedy, mean@k and maj@k accuracy. */
  accuracy: AccuracyRow[];
  /** Paired tests against the base, same groups (absent for the base itself). */
  paired?: PairedRow[];
  /** The verifier's win rate of the greedy answers against the base's (absent for the base itself). */
  vsBase?: { overall: SubsetStats; subsets: SubsetStats[] };
  /** The win rate of the sampled policy: per item, more exact answers among the k samples wins (absent for the base). */
  vsBaseSampled?: { overall: SubsetStats; subsets: SubsetStats[] };
}

/**
 * Per item, the sampled policy's preference against the base's: 1 when the model's k answers at temperature 1 are
 * exact more often than the base's, 0 when less often, 0.5 on a tie (as often, including both never or always).
 */
export function sampledPreferences(model: readonly ItemOutcome[], base: readonly ItemOutcome[]): JudgedItem[] {
  return model.map((m, i) => {
    const b = base[i];
    invariant(b.id === m.id, `sampled win rate: item ${i} is ${m.id} for the model and ${b.id} for the base`);
    const preference = m.meanK > b.meanK ? 1 : m.meanK < b.meanK ? 0 : 0.5;
    return { subset: m.family, preference, modelLength: 0, baselineLength: 0 };
  });
}

/** `count` items of the larger held-out set spread over its order (family by family, level by level); null = all. */
export function evalPrompts(count: number | null, file: string = LARGE_EVAL_SET_PATH): EvalPrompt[] {
  return spreadLimit(worldPrompts(file), count ?? undefined);
}

interface CachedAnswers extends ModelAnswers {
  dir: string;
  /** Size and modification time of the weights: a retrained model is answered again. */
  weights: string;
  settings: AccuracySettings;
  ids: string[];
}

function weightsStamp(dir: string): string {
  const file = path.join(dir, 'model.safetensors');
  if (!fs.existsSync(file)) return 'missing';
  const st = fs.statSync(file);
  return `${st.size}@${st.mtimeMs}`;
}

export interface EvaluateOptions {
  /** Folder of the answer cache and the per-arm reports. */
  out: string;
  /** The first model is the base every other one is compared with. */
  models: readonly { name: string; dir: string }[];
  prompts: readonly EvalPrompt[];
  settings: AccuracySettings;
  bootstrapSeed: number;
  threads?: number;
  quiet?: boolean;
  log?: (line: string) => void;
  /** Called with the seconds spent generating a model's answers. */
  onSeconds?: (name: string, seconds: number) => void;
}

/** The model's answers, from the cache when it matches (same weights, settings and items), else generated. */
export async function answersOf(o: EvaluateOptions, model: { name: string; dir: string }): Promise<ModelAnswers> {
  const file = path.join(o.out, 'answers', `${model.name}.json`);
  const key = { dir: path.resolve(model.dir), weights: weightsStamp(model.dir), settings: o.settings, ids: o.prompts.map((p) => p.id) };
  if (fs.existsSync(file)) {
    const { greedy, samples_I_K, ...rest } = readJson(file) as CachedAnswers;
    if (JSON.stringify(rest) === JSON.stringify(key) && greedy.length === o.prompts.length) {
      o.log?.(`${model.name}: answers reused from ${file}`);
      return { greedy, samples_I_K };
    }
  }
  const runtime = experimentRuntime(o.threads);
  const started = performance.now();
  try {
    const chat = ChatModel.load(model.dir, runtime, model.name);
    const answers = await answerItems(chat, o.prompts, o.settings, { name: model.name, quiet: o.quiet });
    writeJsonAtomic(file, { ...key, ...answers } satisfies CachedAnswers);
    o.onSeconds?.(model.name, (performance.now() - started) / 1000);
    return answers;
  } finally {
    await runtime.release();
  }
}

/** The verifier's preferences between the greedy answers, as win-rate statistics; also written as an eval report. */
async function winRateVsBase(o: EvaluateOptions, model: { name: string; dir: string }, greedy: readonly string[], baseGreedy: readonly string[]) {
  const judge = new VerifierJudge();
  const pairs = o.prompts.map((prompt, i) => ({ prompt, model: greedy[i], baseline: baseGreedy[i] }));
  const prefs = await judge.judge(pairs);
  const judged = pairs.map((p, i) => ({ subset: p.prompt.subset, preference: prefs[i], modelLength: p.model.length, baselineLength: p.baseline.length }));
  const stats = summarize(judged, { seed: o.bootstrapSeed });
  const base = o.models[0];
  const report: EvalReport = {
    model: model.dir,
    baseline: base.dir,
    judge: { name: judge.name, counters: judge.counters() },
    generation: { temperature: 0, maxTokens: o.settings.maxTokens, seed: o.settings.seed },
    ...stats,
    items: pairs.map((p, i) => ({ id: p.prompt.id, subset: p.prompt.subset, instruction: p.prompt.instruction, model: p.model, baseline: p.baseline, preference: prefs[i] })),
  };
  writeReport(path.join(o.out, `${model.name}-vs-${base.name}`), report, o.prompts, 'world');
  return stats;
}

/** Accuracy of every model, and for all but the first, the win rate and paired tests against the first. */
export async function evaluateModels(o: EvaluateOptions): Promise<ModelEval[]> {
  const [base, ...others] = o.models;
  const baseAnswers = await answersOf(o, base);
  const baseItems: ItemOutcome[] = itemOutcomes(o.prompts, baseAnswers);
  const results: ModelEval[] = [{ name: base.name, dir: base.dir, accuracy: accuracyRows(baseItems) }];
  for (const model of others) {
    const answers = await answersOf(o, model);
    const items = itemOutcomes(o.prompts, answers);
    const vsBase = await winRateVsBase(o, model, answers.greedy, baseAnswers.greedy);
    const vsBaseSampled = summarize(sampledPreferences(items, baseItems), { seed: o.bootstrapSeed });
    results.push({ name: model.name, dir: model.dir, accuracy: accuracyRows(items), paired: pairedRows(items, baseItems, { seed: o.bootstrapSeed }), vsBase, vsBaseSampled });
  }
  return results;
}
