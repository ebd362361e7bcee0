/**
 * The training run's configuration: one zod schema with a default and a one-line reason per field, read from a
 * JSON/YAML file (`--config FILE`) and overridden by command-line flags. Unknown keys and conflicting settings
 * fail at start-up with a message naming the fields. The resolved config is what the run folder saves.
 *
 * Defaults make `npx selfplay train` (LSP on models/default, ~4.5M parameters) finish in a few minutes on 2 cores.
 * Paper settings (Table 1) for real models: beta 0.05, lr 3e-6 (LSP) / 1e-6 (GRPO), 8 queries per iteration.
 */
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import { InputError } from '../errors.ts';
import { brief } from '../util/brief.ts';
import { CHALLENGER_PROMPT, JUDGE_PROMPT } from '../prompts/paper.ts';
import { loraConfigSchema } from '../model/lora.ts';
import { FAMILY_NAMES } from '../world/types.ts';
import { JUDGE_MAX_SCORE } from './advantages.ts';
import { KL_FOLDS } from './kl-fold.ts';
import { KL_ESTIMATORS } from './losses.ts';

export const MODES = ['lsp', 'lsp-zero', 'grpo'] as const;
export type Mode = (typeof MODES)[number];

/** Sampling of one role; the fields are exactly the generator's Sampling. */
function samplingSchema(role: string, temperature: number, maxTokens: number, why: string) {
  const learns = role !== 'judge'; // the judge's samples are scores, not actions the loss learns from
  return z
    .strictObject({
      temperature: z.number().min(0).default(temperature).describe(`${role} sampling temperature (0 = greedy); ${why}`),
      topP: z.number().gt(0).max(1).default(1).describe(`${role} nucleus sampling (1 = off)${learns ? '; < 1 samples off-policy for the loss' : ''}`),
      topK: z.number().int().min(0).default(0).describe(`${role} top-k sampling (0 = off)${learns ? '; > 0 samples off-policy for the loss' : ''}`),
      maxTokens: z.number().int().positive().default(maxTokens).describe(`${role} max new tokens; ${role === 'judge' ? 'room for the justification, calculation and <Score>' : "the world's inputs and answers are short"}`),
    })
    .prefault({});
}

const taskSpec = z.strictObject({
  task: z.string().describe("the task name put in Box 1's {task}"),
  template: z.string().describe("the template put in Box 1's {template}"),
});

const guardThresholdsSchema = z
  .strictObject({
    window: z.number().int().positive().default(3).describe('iterations per window (early = the first, recent = the last); 3 smooths N=8 queries an iteration without waiting long'),
    validDrop: z.number().gt(0).max(1).default(0.5).describe('valid-query share falling by this fraction of its early level trips; the paper sees LSP-Zero drift into invalid queries'),
    diversityDrop: z.number().gt(0).max(1).default(0.4).describe('distinct-2 or unique-query share falling by this fraction of its early level trips: the challenger repeats itself'),
    equalRewardsFrac: z.number().min(0).max(1).default(0.9).describe('more than this share of groups with all-equal rewards (window mean) trips: advantages are zero, nothing is learnt'),
    judgeRise: z.number().min(0).default(1).describe('self-reward (0..7) rising this much while the verifier reward falls (verifierFall) trips: the judge is being gamed'),
    verifierFall: z.number().min(0).default(0.1).describe('the verifier-reward fall (in [0, 1] units) that, with judgeRise, trips the judge-gamed guard'),
    lengthGrowth: z.number().gt(1).default(3).describe('the mean answer length growing this many times its early level trips (length hacking)'),
    klMax: z.number().positive().default(10).describe('KL(pi || pi_ref) of either role (nats per sequence) above this trips; the default model stays under 1'),
  })
  .prefault({})
  .describe('guard thresholds (file-only settings)');

const TASKS_HELP = `'all' (every world family), 'none' (no task: the model's own judgement), a list of families (${FAMILY_NAMES.join(', ')}) or a list of {task, template}`;

export const trainConfigSchema = z.strictObject({
  // what is trained, and how
  model: z.string().min(1).default('models/default').describe('HF model folder (policy and frozen reference); the shipped world model by default'),
  chatTemplate: z.string().min(1).nullable().default(null).describe("Jinja chat template file used instead of the model folder's own (for tokenizers that ship none); null: the folder's"),
  mode: z.enum(MODES).default('lsp').describe('lsp: self-play with self-reward; lsp-zero: without it; grpo: queries from promptsFile, no challenger'),
  iterations: z.number().int().positive().default(20).describe('total iterations, one optimizer step each; 20 visibly moves the default model in minutes'),
  N: z.number().int().positive().default(8).describe('queries per iteration (the paper: 8)'),
  G: z.number().int().min(2, 'G must be >= 2: the group baseline V(q) needs at least two answers').default(4).describe('answers per query; V(q) is their mean reward; 4: N 32 x G 8 cost 3x the samples of 150 iterations at N 8 x G 4 for less dev gain (docs/results/sweep.md)'),
  alphaCh: z.number().min(0).default(1).describe('weight of the challenger loss in L = L_sol + alpha_ch L_ch (the paper does not state it)'),
  beta: z.number().min(0).optional().describe('shorthand: sets betaSolver and betaChallenger (each still overridable)'),
  betaSolver: z.number().min(0).default(0.05).describe("KL(pi || pi_ref) coefficient of the solver (the paper's beta 0.05)"),
  betaChallenger: z.number().min(0).default(0.05).describe('KL coefficient of the challenger; a pilot saw its KL grow ~5x the solver\'s, so it may need more'),
  klEstimator: z.enum(KL_ESTIMATORS).default('reward').describe('reward: sg(log-ratio) in the advantage (true grad KL); k3: GRPO/TRL loss; literal: as printed (no pull, ablation)'),
  // optimizer
  lr: z.number().positive().default(1e-5).describe('AdamW learning rate; 1e-5: on the default model LSP at 3e-5 cost 4 greedy dev points and 1e-5 cost 1 (docs/results/sweep.md; GRPO learnt best at 3e-5; paper: 3e-6 on 3B)'),
  weightDecay: z.number().min(0).default(0).describe('AdamW weight decay; 0 because the KL term, not decay towards 0, keeps pi near pi_ref'),
  gradClip: z.number().min(0).default(1).describe('clip the global gradient norm (0 = off); 1 as in TRL'),
  microBatch: z.number().int().positive().default(32).describe('rows per forward/backward; gradients accumulate exactly, so only memory and speed change'),
  // where the weights train (a Tinker-compatible service: README "Training past one machine")
  backend: z
    .string()
    .regex(/^(local|tinker:https?:\/\/.+)$/, "expected 'local' or 'tinker:http(s)://HOST[:PORT]'")
    .default('local')
    .describe("'local': this process's ONNX engine; 'tinker:URL': a Tinker-compatible training service (hosted Tinker, selfplay serve --tinker) samples and trains, model stays the local tokenizer and chat template"),
  baseModel: z.string().min(1).nullable().default(null).describe("tinker only: the base model's name on the service (its tokenizer must be model's); null: the one model the service offers"),
  policyLoss: z.enum(['auto', 'exact', 'importance_sampling']).default('auto').describe("exact: the local loss with klEstimator; importance_sampling: the Tinker API's loss, the KL folded into per-token advantages; auto: exact locally, importance_sampling on tinker"),
  klFold: z.enum(KL_FOLDS).default('sequence').describe('importance_sampling only: how the KL pull enters the per-token advantages; sequence gives the reward estimator\'s gradient on-policy'),
  remoteRetries: z.number().int().min(0).default(5).describe('tinker only: retries of a failed request where safe (refused, 429, 5xx, timeouts); a training call the service may have applied is never sent twice'),
  remoteTimeoutSeconds: z.number().positive().default(600).describe('tinker only: time limit of one request and of one future; a remote step on a large model can take minutes, a stuck one ends the run (resumable)'),
  lora: z.strictObject(loraConfigSchema.shape).nullable().default(null).describe('null: full fine-tuning (right for the tiny default); {rank, alpha, targets}: train adapters only'),
  // rewards
  rewardSource: z
    .string()
    .regex(/^(verifier|reward-model:.+|judge:openai:https?:\/\/.+)$/, "expected 'verifier', 'reward-model:DIR' or 'judge:openai:http(s)://HOST[:PORT][/v1]'")
    .default('verifier')
    .describe("R: 'verifier' (the world's checker, in [0, 1]), 'reward-model:DIR' (a LlamaForSequenceClassification folder) or 'judge:openai:URL' (an LLM on an OpenAI-compatible endpoint scores 0-7 with a rubric; R = score/7)"),
  rewardModelName: z.string().min(1).nullable().default(null).describe("judge:openai only: the judge model's name on the endpoint (required there); the API key comes from OPENAI_API_KEY"),
  rewardRubricFile: z.string().min(1).nullable().default(null).describe("judge:openai only: a rubric prompt file with {instruction} and {response} ending in <Score>0-7</Score>; null: the paper's Box 3"),
  rewardConcurrency: z.number().int().positive().default(4).describe('judge:openai only: judgement requests in flight at once; a local server batches them'),
  rewardRetries: z.number().int().min(0).default(5).describe('judge:openai only: retries of a failed request (network, timeout, 429, 5xx) with exponential backoff, then the run stops (resumable)'),
  rewardMaxTokens: z.number().int().positive().default(256).describe("judge:openai only: completion budget of one judgement; Box 3 asks for <= 100 words, a calculation and the score"),
  rewardCacheFile: z.string().min(1).nullable().default(null).describe('judge:openai only: judgement cache (JSON Lines); null: reward-judge-cache.jsonl in the run folder, so a resume asks nothing twice'),
  rewardParseFallback: z.number().min(0).max(JUDGE_MAX_SCORE).default(0).describe('judge:openai only: the score (0..7) of a judgement without a parseable <Score>; 0 so an unreadable judge never pays (counted as reward/judge/parse_fail)'),
  verifierReward: z.enum(['partial', 'exact']).default('partial').describe("verifier only: 'partial' (the world's credit for near answers) or 'exact' (1 for the exact reference, else 0: near-guesses earn nothing)"),
  challengerReward: z.enum(['paper', 'uncertainty']).default('paper').describe("'paper': -V(q), most for queries the solver never solves; 'uncertainty': R-Zero's 1 - 2|p - 0.5|, p the solver's exact success rate over G, most at p = 0.5"),
  invalidQueryPenalty: z.number().min(0).default(0).describe('subtracted from the challenger reward of a query that is no valid world task (world tasks only); 0 = the paper, where an invalid query earns the best -V(q) = 0'),
  repetitionPenalty: z.number().min(0).default(0).describe("lambda: the challenger loses lambda |C|/N, C the query's cluster of near-copies in the batch (R-Zero); 0 = off, as in the paper"),
  repetitionThreshold: z.number().gt(0).max(1).default(0.85).describe('word n-gram similarity (mean Dice over n = 1..4) at which two queries are near-copies; 0.85 links copies, not one template with another word (0.68-0.72)'),
  selfRewardWeight: z.number().min(0).default(1).describe('w in R + w R_Q/7: R_Q (0..7) is scaled to [0, 1] like the verifier R, and w = 1 weighs them equally as the paper\'s plain sum did'),
  selfRewardFallback: z.number().min(0).max(JUDGE_MAX_SCORE).default(0).describe('R_Q (0..7) when <Score> does not parse; 0 so breaking the judge never pays (failures are counted)'),
  // the game
  sampling: z
    .strictObject({
      challenger: samplingSchema('challenger', 1, 64, 'the policy-gradient loss assumes samples from pi itself (1)'),
      solver: samplingSchema('solver', 1, 64, 'the policy-gradient loss assumes samples from pi itself (1)'),
      judge: samplingSchema('judge', 0.01, 128, 'near-greedy: R_Q is a score, not a sample to learn from'),
    })
    .prefault({}),
  tasks: z
    .union([z.literal('all'), z.literal('none'), z.array(z.enum(FAMILY_NAMES)).min(1), z.array(taskSpec).min(1)], { error: `expected ${TASKS_HELP}` })
    .default('all')
    .describe(`what the challenger is asked for: ${TASKS_HELP}`),
  challengerPrompt: z.string().min(1).default(CHALLENGER_PROMPT).describe("the challenger's prompt with {task} and {template}; the paper's Box 1, verbatim"),
  judgePrompt: z.string().min(1).default(JUDGE_PROMPT).describe("the self-reward prompt with {instruction} and {response}; the paper's Box 3, verbatim"),
  promptsFile: z.string().min(1).nullable().default(null).describe('grpo only: JSONL with an "instruction" per line, the queries to sample from'),
  // the run
  seed: z.number().int().min(0).default(1).describe('seeds sampling; every iteration derives its randomness from (seed, iteration), so resume is exact'),
  checkpointEvery: z.number().int().positive().default(10).describe('iterations between checkpoints (the last iteration always checkpoints)'),
  // crash safety (what a crash costs, and when a run counts as failed)
  checkpointMinutes: z.number().min(0).default(2).describe('minutes of training between checkpoints as well (0 = by iterations only); a crash costs at most this much work'),
  maxSkippedUpdates: z.number().int().min(0).default(5).describe('the run fails (exit 1) when more updates than this are skipped as non-finite; a few are noise, many mean a broken run'),
  evalEvery: z.number().int().min(0).default(0).describe('iterations between quick evaluations in the world (solver greedy accuracy on 10 held-out items per family, logged as eval/*); 0 = off'),
  out: z.string().min(1).nullable().default(null).describe('run folder; null: runs/<mode>-<UTC timestamp>'),
  onNonfinite: z.enum(['skip', 'stop']).default('skip').describe('a NaN/Inf loss or gradient skips the update (weights untouched) and continues, or stops the run'),
  quiet: z.boolean().default(false).describe('log lines instead of a progress bar'),
  // collapse and reward-hacking guards (src/train/guards.ts)
  guard: z.boolean().default(true).describe('check the collapse guards after every iteration (--no-guard: off); trips are logged in metrics.jsonl'),
  onCollapse: z.enum(['warn', 'stop']).default('warn').describe('a tripped guard warns (progress line, metrics.jsonl, dashboard) or stops the run with a checkpoint'),
  guards: guardThresholdsSchema,
});

/** The resolved configuration: every field set, `beta` expanded into the per-role betas, `out` decided. */
export type TrainConfig = Omit<z.output<typeof trainConfigSchema>, 'beta' | 'out'> & { out: string };
/** What a config file or the flags may give: any subset of the fields. */
export type TrainConfigInput = z.input<typeof trainConfigSchema>;

type Layer = Record<string, unknown>;
const isPlainObject = (v: unknown): v is Layer => typeof v === 'object' && v !== null && !Array.isArray(v);
const normalise = (key: string) => key.toLowerCase().replace(/[-_]/g, '');

/** A known key spelled differently (snake_case, kebab-case, other case), for "did you mean". */
function suggestion(key: string, known: readonly string[]): string {
  const match = known.find((k) => normalise(k) === normalise(key));
  return match ? ` (did you mean "${match}"?)` : '';
}

function knownKeysAt(pathParts: readonly PropertyKey[]): string[] {
  let schema: z.ZodType = trainConfigSchema;
  for (const part of pathParts) {
    schema = unwrap(schema);
    if (!(schema instanceof z.ZodObject)) return [];
    schema = (schema.shape as Record<string, z.ZodType>)[String(part)];
    if (!schema) return [];
  }
  schema = unwrap(schema);
  return schema instanceof z.ZodObject ? Object.keys(schema.shape) : [];
}

/** One line per problem, each naming the source and the field. */
function describeIssues(source: string, error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const where = issue.path.join('.');
      if (issue.code === 'unrecognized_keys') {
        const known = knownKeysAt(issue.path);
        return issue.keys.map((k) => `${source}: unknown setting ${brief(`${where ? `${where}.` : ''}${k}`)}${suggestion(k, known)}`).join('\n');
      }
      return `${source}: ${where || '(top level)'}: ${issue.message}`;
    })
    .join('\n');
}

/** Validates one layer alone (types, ranges, unknown keys), so its errors name its own source. */
function checkLayer(source: string, layer: unknown): Layer {
  if (layer === undefined || layer === null) return {};
  if (!isPlainObject(layer)) throw new InputError(`${source}: expected a mapping of settings, got ${Array.isArray(layer) ? 'a list' : typeof layer}`);
  const deep = deeperThan(layer, MAX_DEPTH);
  if (deep !== null) throw new InputError(`${source}: ${deep ? brief(deep) : '(top level)'}: nested deeper than ${MAX_DEPTH} levels; no setting is`);
  const clean = dropUndefined(layer);
  const result = trainConfigSchema.safeParse(clean);
  if (!result.success) throw new InputError(describeIssues(source, result.error));
  return clean;
}

/** No setting nests deeper than this (sampling.solver.topP is 3; tasks[i].task is 3). */
const MAX_DEPTH = 8;

/** The path of the first value nested deeper than `max` lists/mappings, or null; iterative (no stack to overflow). */
function deeperThan(value: unknown, max: number): string | null {
  const stack: [unknown, string, number][] = [[value, '', 0]];
  while (stack.length > 0) {
    const [v, at, depth] = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (depth > max) return at;
    for (const [k, x] of Object.entries(v)) stack.push([x, at ? `${at}.${k}` : k, depth + 1]);
  }
  return null;
}

function dropUndefined(layer: Layer): Layer {
  return Object.fromEntries(Object.entries(layer).filter(([, v]) => v !== undefined).map(([k, v]) => [k, isPlainObject(v) ? dropUndefined(v) : v]));
}

/** `beta` sets both role betas of its own layer, unless that layer sets them too. */
function expandBeta(layer: Layer): Layer {
  const { beta, ...rest } = layer;
  if (beta === undefined) return rest;
  return { betaSolver: beta, betaChallenger: beta, ...rest };
}

/** Later layers win; nested mappings (sampling.*) merge key by key, lists and scalars are replaced. */
function merge(base: Layer, over: Layer): Layer {
  const out: Layer = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = isPlainObject(v) && isPlainObject(out[k]) ? merge(out[k] as Layer, v) : v;
  return out;
}

/** Settings that contradict each other; `given` is what the user wrote (after merging), `c` the parsed result. */
function conflicts(given: Layer, c: z.output<typeof trainConfigSchema>): string[] {
  const problems: string[] = [];
  if (c.mode === 'grpo' && c.promptsFile === null) problems.push('mode: grpo needs promptsFile (JSONL with an "instruction" per line): the queries come from it');
  if (c.mode !== 'grpo' && c.promptsFile !== null) problems.push(`promptsFile is only read in mode grpo, but mode is ${c.mode}`);
  if (c.mode !== 'lsp' && given.selfRewardWeight !== undefined && c.selfRewardWeight !== 0) {
    problems.push(`selfRewardWeight ${c.selfRewardWeight} has no effect in mode ${c.mode} (no self-reward); remove it or set mode: lsp`);
  }
  if (c.verifierReward === 'exact' && c.rewardSource !== 'verifier') problems.push(`verifierReward exact needs rewardSource verifier (exact answers exist only in the world), but rewardSource is ${c.rewardSource}`);
  const worldTasks = c.tasks === 'all' || (Array.isArray(c.tasks) && typeof c.tasks[0] === 'string');
  if (c.invalidQueryPenalty > 0 && !worldTasks) problems.push('invalidQueryPenalty needs world tasks (tasks: all or a list of families): validity is only defined for them');
  if (c.mode === 'grpo') {
    for (const k of ['challengerReward', 'invalidQueryPenalty', 'repetitionPenalty'] as const) {
      if (given[k] !== undefined && c[k] !== trainConfigSchema.shape[k].parse(undefined)) problems.push(`${k} has no effect in mode grpo (no challenger)`);
    }
  }
  const judge = c.rewardSource.startsWith('judge:');
  if (judge && c.rewardModelName === null) problems.push(`rewardSource ${c.rewardSource} needs rewardModelName (the judge model's name on that endpoint)`);
  const judgeOnly = ['rewardModelName', 'rewardRubricFile', 'rewardConcurrency', 'rewardRetries', 'rewardMaxTokens', 'rewardCacheFile', 'rewardParseFallback'];
  const defaults = trainConfigSchema.parse({}) as Record<string, unknown>; // a saved config repeats the defaults: fine
  for (const k of judgeOnly) if (!judge && (c as Record<string, unknown>)[k] !== defaults[k]) problems.push(`${k} is only read with rewardSource judge:openai:URL, but rewardSource is ${c.rewardSource}`);
  problems.push(...backendConflicts(c, defaults));
  for (const placeholder of ['{instruction}', '{response}']) {
    if (!c.judgePrompt.includes(placeholder)) problems.push(`judgePrompt has no ${placeholder} placeholder: the judge would not see the interaction`);
  }
  return problems;
}

/** Settings that need a tinker backend, and losses a backend cannot compute. */
function backendConflicts(c: z.output<typeof trainConfigSchema>, defaults: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const remote = c.backend.startsWith('tinker:');
  if (remote && c.policyLoss === 'exact') problems.push(`policyLoss exact is computed by the local engine only; backend ${c.backend} trains with importance_sampling (policyLoss auto or importance_sampling)`);
  const folded = c.policyLoss === 'importance_sampling' || (remote && c.policyLoss === 'auto');
  if (folded && c.klEstimator !== 'reward') problems.push(`klEstimator ${c.klEstimator} cannot be folded into per-token advantages (importance_sampling folds the reward estimator); use klEstimator reward or policyLoss exact with backend local`);
  if (!folded && c.klFold !== defaults.klFold) problems.push(`klFold is only read with policyLoss importance_sampling (or a tinker backend), but policyLoss is ${c.policyLoss}`);
  for (const k of ['baseModel', 'remoteRetries', 'remoteTimeoutSeconds']) {
    if (!remote && (c as Record<string, unknown>)[k] !== defaults[k]) problems.push(`${k} is only read with backend tinker:URL, but backend is ${c.backend}`);
  }
  return problems;
}

/** The loss a run trains with (policyLoss auto decided by the backend). */
export const effectiveLoss = (c: Pick<TrainConfig, 'backend' | 'policyLoss'>): 'exact' | 'importance_sampling' =>
  c.policyLoss === 'auto' ? (c.backend.startsWith('tinker:') ? 'importance_sampling' : 'exact') : c.policyLoss;

const timestamp = (d: Date) => d.toISOString().slice(0, 19).replace(/[-:]/g, '').replace('T', '-');

export interface ResolveOptions {
  /** Names the file in error messages. */
  fileName?: string;
  /** Names the flags in error messages. */
  flagsName?: string;
  /** The clock for the default run folder name. */
  now?: Date;
}

/**
 * The typed config from a file's settings (may be empty) and flag overrides (win over the file; undefined values
 * are ignored). Throws InputError naming the source and field for unknown keys, bad values and conflicts.
 */
export function resolveConfig(fileSettings: unknown, flagOverrides: unknown = {}, opts: ResolveOptions = {}): TrainConfig {
  const file = expandBeta(checkLayer(opts.fileName ?? 'config file', fileSettings));
  const flags = expandBeta(checkLayer(opts.flagsName ?? 'command line', flagOverrides));
  const given = merge(file, flags);
  const parsed = trainConfigSchema.safeParse(given);
  if (!parsed.success) throw new InputError(describeIssues('config', parsed.error));
  const problems = conflicts(given, parsed.data);
  if (problems.length) throw new InputError(problems.map((p) => `config: ${p}`).join('\n'));
  const { beta: _beta, out, ...rest } = parsed.data;
  return {
    ...rest,
    selfRewardWeight: rest.mode === 'lsp' ? rest.selfRewardWeight : 0,
    out: out ?? path.join('runs', `${rest.mode}-${timestamp(opts.now ?? new Date())}`),
  };
}

/** Flow nesting ([ and {) allowed in a YAML file: the yaml package aborts the process (V8 out of memory) at ~16,000. */
const MAX_FLOW_DEPTH = 64;

/** The deepest nesting of [ and { in `text` (quotes ignored: a bound, not a parse). */
function flowDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  for (const ch of text) {
    if (ch === '[' || ch === '{') deepest = Math.max(deepest, ++depth);
    else if ((ch === ']' || ch === '}') && depth > 0) depth--;
  }
  return deepest;
}

/** Reads a JSON (`.json`) or YAML (anything else) config file; errors name the file. */
export function loadConfigFile(file: string): Layer {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new InputError(`${file}: cannot read the config file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const json = file.toLowerCase().endsWith('.json');
  const depth = json ? 0 : flowDepth(text);
  if (depth > MAX_FLOW_DEPTH) throw new InputError(`${file}: brackets nested ${depth} deep; no setting nests deeper than ${MAX_DEPTH}`);
  let data: unknown;
  try {
    data = json ? JSON.parse(text) : YAML.parse(text);
  } catch (e) {
    throw new InputError(`${file}: not valid ${json ? 'JSON' : 'YAML'}: ${(e as Error).message.split('\n')[0]}`);
  }
  if (data === null || data === undefined) return {};
  if (!isPlainObject(data)) throw new InputError(`${file}: expected a mapping of settings at the top level, got ${Array.isArray(data) ? 'a list' : typeof data}`);
  return data;
}

/** Strips the wrappers that do not change what a field holds. */
function unwrap(schema: z.ZodType): z.ZodType {
  let s = schema;
  while (s instanceof z.ZodDefault || s instanceof z.ZodPrefault || s instanceof z.ZodOptional || s instanceof z.ZodNullable) {
    s = s._zod.def.innerType as z.ZodType;
  }
  return s;
}
