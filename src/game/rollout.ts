/**
 * One round of the game, as data: the challenger writes N queries from the Box 1 prompt, the solver answers each
 * G times, the reward source scores the answers and, in LSP, the frozen reference judges every interaction with
 * the Box 3 prompt. Arrays carry their group shape: queries_N, answers_N_G, rewards_N_G.
 */
import { fillChallengerPrompt, fillJudgePrompt, parseJudgeScore } from '../prompts/paper.ts';
import type { Completer, Completion, Sampling } from '../generate/chat.ts';
import { exactRewards } from '../rl/rewards.ts';
import type { Rng } from '../util/rng.ts';
import { FAMILY_NAMES, type FamilyName } from '../world/types.ts';
import { getFamily, reward as worldReward } from '../world/world.ts';

/** What the challenger is asked for: a task and a template (empty strings: the paper's "None"). */
export interface TaskSpec {
  task: string;
  template: string;
  /** The world family, when the task is one. */
  family?: FamilyName;
}

export interface Query extends Completion {
  spec: TaskSpec;
  /** The user text that produced it (the filled Box 1 prompt, or the prompt file's instruction in GRPO). */
  userText: string;
}

/** A task for each of the N queries: world families drawn at random (with a random template), or the given list. */
export function drawTasks(rng: Rng, n: number, tasks: 'world' | readonly TaskSpec[], families: readonly FamilyName[] = FAMILY_NAMES): TaskSpec[] {
  return Array.from({ length: n }, () => {
    if (tasks !== 'world') return tasks.length ? tasks[Math.floor(rng.next() * tasks.length)] : { task: '', template: '' };
    const family = families[Math.floor(rng.next() * families.length)];
    const spec = getFamily(family);
    return { task: spec.task, template: spec.templates[Math.floor(rng.next() * spec.templates.length)], family };
  });
}

/** Challenger stage: one query per task spec, sampled from the (configurable) Box 1 prompt. */
export async function challengerQueries(
  model: Completer,
  specs: readonly TaskSpec[],
  sampling: Sampling,
  seed: number,
  prompt?: string,
): Promise<Query[]> {
  const userTexts = specs.map((s) => fillChallengerPrompt(s.task, s.template, prompt));
  const done = await model.complete(userTexts, sampling, seed);
  return done.map((c, i) => ({ ...c, text: c.text.trim(), spec: specs[i], userText: userTexts[i] }));
}

/** Solver stage: G answers per query, in one batch of N*G rows. */
export async function solverAnswers(model: Completer, queries_N: readonly string[], G: number, sampling: Sampling, seed: number): Promise<Completion[][]> {
  const flat = queries_N.flatMap((q) => Array<string>(G).fill(q));
  const done = await model.complete(flat, sampling, seed, Math.max(1, flat.length));
  return queries_N.map((_, i) => done.slice(i * G, (i + 1) * G));
}

/** A source of R(q, a) for every answer. */
export interface RewardSource {
  readonly name: string;
  score(queries_N: readonly string[], answers_N_G: readonly string[][]): Promise<number[][]>;
  /** Checks the source answers at all, before any compute (a remote judge); throws one clear error if not. */
  probe?(): Promise<void>;
  /** Counters of the last `score` call, merged into the iteration's metrics (e.g. judge parse failures). */
  metrics?(): Record<string, number>;
}

/** The embedded world's verifier: partial credit in [0, 1] for valid instances, 0 for every answer to an invalid query. */
export const verifierReward: RewardSource = {
  name: 'verifier',
  score: async (queries_N, answers_N_G) => answers_N_G.map((answers, i) => answers.map((a) => worldReward(queries_N[i], a.trim()))),
};

/** The verifier with exact 0/1 rewards: 1 for the exact reference answer only (`verifierReward: exact`). */
export const exactVerifierReward: RewardSource = {
  name: 'verifier (exact)',
  score: async (queries_N, answers_N_G) => exactRewards(await verifierReward.score(queries_N, answers_N_G)),
};

export interface SelfRewards {
  /** Parsed Box 3 scores 0..7, or the fallback where parsing failed. */
  scores_N_G: number[][];
  parseFailures: number;
  /** The judge's raw outputs, for samples.jsonl. */
  texts_N_G: string[][];
}

/** R_Q: the reference model answers Box 3 for every (query, answer); unparseable output scores `fallback`. */
export async function selfRewards(
  judge: Completer,
  queries_N: readonly string[],
  answers_N_G: readonly string[][],
  sampling: Sampling,
  seed: number,
  fallback: number,
  prompt?: string,
): Promise<SelfRewards> {
  const G = answers_N_G[0]?.length ?? 0;
  const texts = answers_N_G.flatMap((answers, i) => answers.map((a) => fillJudgePrompt(queries_N[i], a, prompt)));
  const done = await judge.complete(texts, sampling, seed, 32);
  let parseFailures = 0;
  const scores = done.map((c) => {
    const s = parseJudgeScore(c.text).score;
    if (s === null) parseFailures++;
    return s ?? fallback;
  });
  const group = <T>(a: T[]) => queries_N.map((_, i) => a.slice(i * G, (i + 1) * G));
  return { scores_N_G: group(scores), parseFailures, texts_N_G: group(done.map((c) => c.text)) };
}
