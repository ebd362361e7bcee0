/**
 * The experiment's evaluation: every model (base and arms) answers the held-out world set once, near-greedily
 * (the answers are cached on disk, so a resumed experiment does not regenerate them); the verifier then judges each
 * arm against the base, per family and overall, with bootstrap intervals (src/eval/stats.ts), and scores each
 * model's own answers (solver accuracy). Each comparison is also written as an ordinary `selfplay eval` report.
 */
import fs from 'node:fs';
import path from 'node:path';
import { generateAnswers, type EvalReport, type GenerationSettings } from '../eval/pairwise.ts';
import { writeReport } from '../eval/report.ts';
import { worldPrompts, type EvalPrompt } from '../eval/sets.ts';
import { summarize, type SubsetStats } from '../eval/stats.ts';
import { VerifierJudge } from '../eval/judges/verifier.ts';
import { ChatModel } from '../generate/chat.ts';
import { Runtime } from '../runtime/runtime.ts';
import { readJson, writeJsonAtomic } from '../train/run-folder.ts';
import { Progress } from '../util/progress.ts';
import { EVAL_SET_PATH } from '../world/evalset.ts';
import { FAMILY_NAMES } from '../world/types.ts';
import { scoreAnswer } from '../world/world.ts';

/** A model's own answers scored by the verifier, in one family (or "overall"). */
export interface Accuracy {
  family: string;
  n: number;
  /** Share of exactly right answers (verifier score 1). */
  exact: number;
  /** Mean verifier score (partial credit in [0, 1]). */
  meanScore: number;
}

export interface ModelEval {
  name: string;
  dir: string;
  /** Per family, then overall. */
  accuracy: Accuracy[];
  /** Against the base (absent for the base itself). */
  vsBase?: { overall: SubsetStats; subsets: SubsetStats[] };
}

/**
 * The held-out world set, or `perFamily` items of each family spread evenly over the file's order (which runs
 * through the difficulty levels), so a small sample still covers every level.
 */
export function evalPrompts(perFamily: number | null, file: string = EVAL_SET_PATH): EvalPrompt[] {
  const all = worldPrompts(file);
  if (perFamily === null) return all;
  return FAMILY_NAMES.flatMap((family) => {
    const items = all.filter((p) => p.subset === family);
    const k = Math.min(perFamily, items.length);
    return Array.from({ length: k }, (_, i) => items[Math.floor((i * items.length) / k)]);
  });
}

/** Exact-match share and mean verifier score per family and overall. */
export function solverAccuracy(prompts: readonly EvalPrompt[], answers: readonly string[]): Accuracy[] {
  const scores = prompts.map((p, i) => scoreAnswer(p.instance!, answers[i]));
  const group = (family: string, idx: number[]): Accuracy => ({
    family,
    n: idx.length,
    exact: idx.filter((i) => scores[i] === 1).length / idx.length,
    meanScore: idx.reduce((a, i) => a + scores[i], 0) / idx.length,
  });
  const families = FAMILY_NAMES.filter((f) => prompts.some((p) => p.subset === f));
  const indices = (f: string) => prompts.flatMap((p, i) => (p.subset === f ? [i] : []));
  return [...families.map((f) => group(f, indices(f))), group('overall', prompts.map((_, i) => i))];
}

interface CachedAnswers {
  dir: string;
  /** Size and modification time of the weights: a retrained model is answered again. */
  weights: string;
  generation: GenerationSettings;
  ids: string[];
  answers: string[];
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
  generation: GenerationSettings;
  bootstrapSeed: number;
  threads?: number;
  quiet?: boolean;
  log?: (line: string) => void;
  /** Called with the seconds spent generating a model's answers. */
  onSeconds?: (name: string, seconds: number) => void;
}

/** The model's answers, from the cache when it matches (same model weights, settings and items), else generated. */
async function answersOf(o: EvaluateOptions, model: { name: string; dir: string }): Promise<string[]> {
  const file = path.join(o.out, 'answers', `${model.name}.json`);
  const key = { dir: path.resolve(model.dir), weights: weightsStamp(model.dir), generation: o.generation, ids: o.prompts.map((p) => p.id) };
  if (fs.existsSync(file)) {
    const cached = readJson(file) as CachedAnswers;
    const { answers, ...rest } = cached;
    if (JSON.stringify(rest) === JSON.stringify(key) && answers.length === o.prompts.length) {
      o.log?.(`${model.name}: answers reused from ${file}`);
      return answers;
    }
  }
  const runtime = new Runtime({ threads: o.threads });
  const started = performance.now();
  try {
    const chat = ChatModel.load(model.dir, runtime, model.name);
    const progress = new Progress({ total: o.prompts.length, label: `answers of ${model.name}`, quiet: o.quiet });
    const answers = await generateAnswers(chat, o.prompts, o.generation, progress);
    progress.finish();
    writeJsonAtomic(file, { ...key, answers } satisfies CachedAnswers);
    o.onSeconds?.(model.name, (performance.now() - started) / 1000);
    return answers;
  } finally {
    await runtime.release();
  }
}

/** Answers, accuracy and (for all but the first model) the verifier's comparison with the first model. */
export async function evaluateModels(o: EvaluateOptions): Promise<ModelEval[]> {
  const [base, ...others] = o.models;
  const baseAnswers = await answersOf(o, base);
  const judge = new VerifierJudge();
  const results: ModelEval[] = [{ name: base.name, dir: base.dir, accuracy: solverAccuracy(o.prompts, baseAnswers) }];
  for (const model of others) {
    const answers = await answersOf(o, model);
    const pairs = o.prompts.map((prompt, i) => ({ prompt, model: answers[i], baseline: baseAnswers[i] }));
    const prefs = await judge.judge(pairs);
    const judged = pairs.map((p, i) => ({ subset: p.prompt.subset, preference: prefs[i], modelLength: p.model.length, baselineLength: p.baseline.length }));
    const stats = summarize(judged, { seed: o.bootstrapSeed });
    const report: EvalReport = {
      model: model.dir,
      baseline: base.dir,
      judge: { name: judge.name, counters: judge.counters() },
      generation: o.generation,
      ...stats,
      items: pairs.map((p, i) => ({ id: p.prompt.id, subset: p.prompt.subset, instruction: p.prompt.instruction, model: p.model, baseline: p.baseline, preference: prefs[i] })),
    };
    writeReport(path.join(o.out, `${model.name}-vs-${base.name}`), report, o.prompts, 'world');
    results.push({ name: model.name, dir: model.dir, accuracy: solverAccuracy(o.prompts, answers), vsBase: stats });
  }
  return results;
}
