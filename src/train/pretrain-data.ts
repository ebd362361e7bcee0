/**
 * Pretraining batches for the default model: one role per step, a pure function of (seed, step), so a resumed run
 * sees exactly the batches the uninterrupted run would have.
 *
 * - solver: B short rows (chat-rendered instruction + answer), plain causal graph.
 * - challenger: B rows that share ONE Box 1 prompt (same family and template): the prompt is the shared prefix,
 *   computed once per batch; the rows are the filled templates.
 * - judge: B rows that share the Box 3 text up to `<Instruction>`; each row is the rest of its prompt (no loss)
 *   followed by the judge's target (loss).
 * Loss weights are 1/(completion tokens in the batch) on completion tokens, 0 elsewhere.
 */
import { commonPrefixLength } from '../generate/generator.ts';
import type { Tokenizer } from '../model/tokenizer.ts';
import { Rng, stepSeed } from '../util/rng.ts';
import { corpusStream, pickFamily, type Role, type TrainingExample } from '../world/corpus.ts';
import type { NoiseKindWeights } from '../world/noise.ts';
import { FAMILY_NAMES, type FamilyName } from '../world/types.ts';
import { classify, instanceKey } from '../world/world.ts';

export interface RoleBatch {
  role: Role;
  /** Shared prefix token ids (challenger, judge) or empty (solver: full rows). */
  prefix: number[];
  rows: number[][];
  /** Per row, how many leading row tokens are prompt (no loss). */
  promptLengths: number[];
  completionTokens: number;
  /** Per row, the row index of one target token whose loss weight is multiplied by `weight` (-1: none). */
  emphasis?: { positions: number[]; weight: number };
}

export interface BatchPlan {
  seed: number;
  /** Steps [0, solverOnlySteps) train the solver alone, on short rows. */
  solverOnlySteps: number;
  /** Role weights after the solver-only phase. */
  mix: Record<Role, number>;
  batchSize: Record<Role, number>;
  /** From `fromStep` on, another role mix and batch sizes (e.g. more challenger steps once the solver is fluent). */
  later?: RolePhase;
  exclude: ReadonlySet<string>;
  /** Relative weights of the kinds of invalid instruction in judge batches (default uniform). */
  noiseKindWeights?: NoiseKindWeights;
  /** Loss weight multiplier of the judge's verdict token ("well" formed / "malformed"; default 1). */
  judgeVerdictWeight?: number;
}

export interface RolePhase {
  fromStep: number;
  mix: Record<Role, number>;
  batchSize: Record<Role, number>;
}

/** The mix and batch sizes in force at `step` (after the solver-only phase). */
function phaseAt(plan: BatchPlan, step: number): { mix: Record<Role, number>; batchSize: Record<Role, number> } {
  return plan.later && step >= plan.later.fromStep ? plan.later : plan;
}

/** The role trained at `step`. */
export function roleAt(plan: BatchPlan, step: number): Role {
  if (step < plan.solverOnlySteps) return 'solver';
  const rng = new Rng(stepSeed(plan.seed, step, 1));
  const { mix } = phaseAt(plan, step);
  const total = mix.solver + mix.challenger + mix.judge;
  let r = rng.next() * total;
  for (const role of ['solver', 'challenger', 'judge'] as const) {
    r -= mix[role];
    if (r < 0) return role;
  }
  return 'judge';
}

/** The chat-rendered user turn with the assistant generation prompt (what the model sees before answering). */
export function renderPrompt(tok: Tokenizer, userText: string): string {
  return tok.applyChatTemplate([{ role: 'user', content: userText }], { addGenerationPrompt: true });
}

/** Completion ids: the target text then the end-of-turn token. */
function completionIds(tok: Tokenizer, text: string): number[] {
  return [...tok.encode(text), tok.eosIds[0]];
}

function examples(plan: BatchPlan, step: number, role: Role, n: number, family?: FamilyName): TrainingExample[] {
  const stream = corpusStream({
    seed: stepSeed(plan.seed, step, 2),
    roles: { [role]: 1 },
    families: family ? [family] : FAMILY_NAMES,
    exclude: plan.exclude,
    noiseKindWeights: plan.noiseKindWeights,
  });
  const out: TrainingExample[] = [];
  let templatePrompt: string | undefined;
  while (out.length < n) {
    const ex = stream.next().value as TrainingExample;
    if (role === 'challenger') {
      templatePrompt ??= ex.prompt; // the first example fixes the template; keep only its siblings
      if (ex.prompt !== templatePrompt) continue;
    }
    out.push(ex);
  }
  return out;
}

/** The judge's criterion-2 phrase starts with this word; the token after it is the verdict on the instruction. */
const VERDICT_CUE = 'Instruction';

/** Index (in the completion's ids) of the judge's verdict token, or -1 when the text has no verdict. */
export function verdictTokenIndex(tok: Tokenizer, completion: string): number {
  const at = completion.indexOf(VERDICT_CUE);
  return at < 0 ? -1 : tok.encode(completion.slice(0, at + VERDICT_CUE.length)).length;
}

/** The batch of `step`. */
/** The examples of the batch at `step` (its role from roleAt). */
export function batchExamples(plan: BatchPlan, step: number): TrainingExample[] {
  const role = roleAt(plan, step);
  const B = phaseAt(plan, step).batchSize[role];
  const family = role === 'challenger' ? pickFamily(new Rng(stepSeed(plan.seed, step, 3)), FAMILY_NAMES) : undefined;
  return examples(plan, step, role, B, family);
}

/**
 * Instance keys of every valid instruction the batches of steps [0, steps) contain (solver prompts, challenger
 * targets, the instructions judged in Box 3): what a pretraining run saw, replayed without a model.
 */
export function drawnInstanceKeys(plan: BatchPlan, steps: number): Set<string> {
  const keys = new Set<string>();
  for (let step = 0; step < steps; step++) {
    for (const ex of batchExamples(plan, step)) {
      const text = ex.role === 'solver' ? ex.prompt : ex.role === 'challenger' ? ex.completion : (/<Instruction>([\s\S]*?)<\/Instruction>/.exec(ex.prompt)?.[1] ?? '');
      const c = classify(text);
      if (c.valid) keys.add(instanceKey(c.instance));
    }
  }
  return keys;
}

export function batchAt(plan: BatchPlan, tok: Tokenizer, step: number): RoleBatch {
  const role = roleAt(plan, step);
  const exs = batchExamples(plan, step);
  const prompts = exs.map((e) => tok.encode(renderPrompt(tok, e.prompt), { addSpecialTokens: false }));
  const completions = exs.map((e) => completionIds(tok, e.completion));
  const completionTokens = completions.reduce((a, c) => a + c.length, 0);
  if (role === 'solver') {
    return { role, prefix: [], rows: prompts.map((p, i) => [...p, ...completions[i]]), promptLengths: prompts.map((p) => p.length), completionTokens };
  }
  // challenger prompts are all equal: the whole prompt is the prefix (its last position predicts row token 0)
  const P = commonPrefixLength(prompts);
  const rows = prompts.map((p, i) => [...p.slice(P), ...completions[i]]);
  const promptLengths = prompts.map((p) => p.length - P);
  const batch: RoleBatch = { role, prefix: prompts[0].slice(0, P), rows, promptLengths, completionTokens };
  const weight = plan.judgeVerdictWeight ?? 1;
  if (role !== 'judge' || weight === 1) return batch;
  const positions = exs.map((e, i) => {
    const k = verdictTokenIndex(tok, e.completion);
    return k < 0 ? -1 : promptLengths[i] + k;
  });
  return { ...batch, emphasis: { positions, weight } };
}
