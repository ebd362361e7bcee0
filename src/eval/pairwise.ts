/**
 * Pairwise evaluation as the paper does it: both models answer every instruction through their chat templates
 * (near-greedy, temperature 0.01 by default, seeded), a judge compares the two answers, and the preferences are
 * summarised per subset and overall (stats.ts).
 */
import { InputError } from '../errors.ts';
import type { ChatModel } from '../generate/chat.ts';
import { Progress } from '../util/progress.ts';
import type { JudgePair, PairJudge } from './judges/types.ts';
import type { EvalPrompt } from './sets.ts';
import { summarize, type BootstrapOptions, type Preference, type SubsetStats } from './stats.ts';

export interface GenerationSettings {
  /** The paper evaluates at 0.01 (near-greedy). */
  temperature: number;
  /** Completion budget per answer. */
  maxTokens: number;
  seed: number;
  /** Prompts per generate call (default 16). */
  batchSize?: number;
}

export interface PairwiseEvalOptions {
  prompts: readonly EvalPrompt[];
  model: ChatModel;
  modelName: string;
  baseline: ChatModel;
  baselineName: string;
  judge: PairJudge;
  generation: GenerationSettings;
  bootstrap?: BootstrapOptions;
  /** Progress lines instead of a redrawn bar. */
  quiet?: boolean;
}

export interface ItemResult {
  id: string;
  subset: string;
  instruction: string;
  model: string;
  baseline: string;
  preference: Preference;
}

export interface EvalReport {
  model: string;
  baseline: string;
  judge: { name: string; counters: Record<string, number> };
  generation: GenerationSettings;
  overall: SubsetStats;
  subsets: SubsetStats[];
  items: ItemResult[];
}

/** The token ids a chat model sees before answering `instruction` (the template adds any BOS itself). */
function promptIds(chat: ChatModel, instruction: string): number[] {
  const text = chat.tokenizer.applyChatTemplate([{ role: 'user', content: instruction }], { addGenerationPrompt: true });
  return chat.tokenizer.encode(text, { addSpecialTokens: false });
}

/**
 * One answer per prompt, in order. Prompts are batched by length (less padding); batch k uses seed + k, so the
 * same prompts and settings give the same answers.
 */
export async function generateAnswers(chat: ChatModel, prompts: readonly EvalPrompt[], g: GenerationSettings, progress?: Progress): Promise<string[]> {
  const ids = prompts.map((p) => promptIds(chat, p.instruction));
  const maxPositions = chat.engine.cfg.maxPositionEmbeddings;
  ids.forEach((p, i) => {
    if (p.length >= maxPositions) {
      throw new InputError(`instruction ${prompts[i].id}: ${p.length} prompt tokens do not fit the model's ${maxPositions} positions`);
    }
  });
  const order = ids.map((_, i) => i).sort((a, b) => ids[a].length - ids[b].length);
  const answers = new Array<string>(prompts.length);
  const batchSize = g.batchSize ?? 16;
  for (let start = 0, k = 0; start < order.length; start += batchSize, k++) {
    const rows = order.slice(start, start + batchSize);
    const longest = Math.max(...rows.map((i) => ids[i].length));
    const gens = await chat.generator.generate(rows.map((i) => ids[i]), {
      temperature: g.temperature,
      topP: 1,
      topK: 0,
      maxNewTokens: Math.min(g.maxTokens, maxPositions - longest),
      seed: g.seed + k,
      eosIds: chat.eosIds,
      sampleableVocab: chat.tokenizer.vocabSize,
    });
    gens.forEach((gen, j) => (answers[rows[j]] = chat.textOf(gen.tokens)));
    progress?.update(start + rows.length);
  }
  return answers;
}

/** Generates both models' answers, judges them and summarises the preferences. */
export async function pairwiseEval(o: PairwiseEvalOptions): Promise<EvalReport> {
  if (o.prompts.length === 0) throw new InputError('eval: the set has no instructions');
  const n = o.prompts.length;
  const answers: string[][] = [];
  for (const [chat, name] of [[o.model, o.modelName], [o.baseline, o.baselineName]] as const) {
    const progress = new Progress({ total: n, label: `answers of ${name}`, quiet: o.quiet });
    answers.push(await generateAnswers(chat, o.prompts, o.generation, progress));
    progress.finish();
  }
  const pairs: JudgePair[] = o.prompts.map((prompt, i) => ({ prompt, model: answers[0][i], baseline: answers[1][i] }));
  const progress = new Progress({ total: n, label: `judging (${o.judge.name})`, quiet: o.quiet });
  const prefs = await o.judge.judge(pairs, (done) => progress.update(done));
  progress.finish();
  const items: ItemResult[] = pairs.map((p, i) => ({
    id: p.prompt.id,
    subset: p.prompt.subset,
    instruction: p.prompt.instruction,
    model: p.model,
    baseline: p.baseline,
    preference: prefs[i],
  }));
  const judged = items.map((it) => ({ subset: it.subset, preference: it.preference, modelLength: it.model.length, baselineLength: it.baseline.length }));
  return {
    model: o.modelName,
    baseline: o.baselineName,
    judge: { name: o.judge.name, counters: o.judge.counters() },
    generation: o.generation,
    ...summarize(judged, o.bootstrap),
    items,
  };
}
