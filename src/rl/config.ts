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
import { CHALLENGER_PROMPT, JUDGE_PROMPT } from '../game/prompts.ts';
import { loraConfigSchema } from '../model/lora.ts';
import { FAMILY_NAMES } from '../world/types.ts';
import { JUDGE_MAX_SCORE } from './advantages.ts';
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

const TASKS_HELP = `'all' (every world family), 'none' (no task: the model's own judgement), a list of families (${FAMILY_NAMES.join(', ')}) or a list of {task, template}`;

export const trainConfigSchema = z.strictObject({
  // what is trained, and how
  model: z.string().min(1).default('models/default').describe('HF model folder (policy and frozen reference); the shipped world model by default'),
  mode: z.enum(MODES).default('lsp').describe('lsp: self-play with self-reward; lsp-zero: without it; grpo: queries from promptsFile, no challenger'),
  iterations: z.number().int().positive().default(20).describe('total iterations, one optimizer step each; 20 visibly moves the default model in minutes'),
  N: z.number().int().positive().default(8).describe('queries per iteration (the paper: 8)'),
  G: z.number().int().min(2, 'G must be >= 2: the group baseline V(q) needs at least two answers').default(4).describe('answers per query; V(q) is their mean reward'),
  alphaCh: z.number().min(0).default(1).describe('weight of the challenger loss in L = L_sol + alpha_ch L_ch (the paper does not state it)'),
  beta: z.number().min(0).optional().describe('shorthand: sets betaSolver and betaChallenger (each still overridable)'),
  betaSolver: z.number().min(0).default(0.05).describe("KL(pi || pi_ref) coefficient of the solver (the paper's beta 0.05)"),
  betaChallenger: z.number().min(0).default(0.05).describe('KL coefficient of the challenger; a pilot saw its KL grow ~5x the solver\'s, so it may need more'),
  klEstimator: z.enum(KL_ESTIMATORS).default('reward').describe('reward: sg(log-ratio) in the advantage (true grad KL); k3: GRPO/TRL loss; literal: as printed (no pull, ablation)'),
  // optimizer
  lr: z.number().positive().default(1e-4).describe('AdamW learning rate; 1e-4 for the tiny default model with full fine-tuning (paper: 3e-6 on 3B)'),
  weightDecay: z.number().min(0).default(0).describe('AdamW weight decay; 0 because the KL term, not decay towards 0, keeps pi near pi_ref'),
  gradClip: z.number().min(0).default(1).describe('clip the global gradient norm (0 = off); 1 as in TRL'),
  microBatch: z.number().int().positive().default(32).describe('rows per forward/backward; gradients accumulate exactly, so only memory and speed change'),
  lora: z.strictObject(loraConfigSchema.shape).nullable().default(null).describe('null: full fine-tuning (right for the tiny default); {rank, alpha, targets}: train adapters only'),
  // rewards
  rewardSource: z.string().regex(/^(verifier|reward-model:.+)$/, "expected 'verifier' or 'reward-model:DIR'").default('verifier').describe("R: 'verifier' (the embedded world's checker, in [0, 1]) or 'reward-model:DIR' (a LlamaForSequenceClassification folder)"),
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
  evalEvery: z.number().int().min(0).default(0).describe('iterations between quick evaluations in the world (solver greedy accuracy on 10 held-out items per family, logged as eval/*); 0 = off'),
  out: z.string().min(1).nullable().default(null).describe('run folder; null: runs/<mode>-<UTC timestamp>'),
  onNonfinite: z.enum(['skip', 'stop']).default('skip').describe('a NaN/Inf loss or gradient skips the update (weights untouched) and continues, or stops the run'),
  quiet: z.boolean().default(false).describe('log lines instead of a progress bar'),
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

/** A key as the user wrote it, quoted on one line (escapes for newlines) and cut at 80 characters. */
const quoted = (key: string) => JSON.stringify(key.length > 80 ? `${key.slice(0, 80)}...` : key);

/** One line per problem, each naming the source and the field. */
function describeIssues(source: string, error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const where = issue.path.join('.');
      if (issue.code === 'unrecognized_keys') {
        const known = knownKeysAt(issue.path);
        return issue.keys.map((k) => `${source}: unknown setting ${quoted(`${where ? `${where}.` : ''}${k}`)}${suggestion(k, known)}`).join('\n');
      }
      return `${source}: ${where || '(top level)'}: ${issue.message}`;
    })
    .join('\n');
}

/** Validates one layer alone (types, ranges, unknown keys), so its errors name its own source. */
function checkLayer(source: string, layer: unknown): Layer {
  if (layer === undefined || layer === null) return {};
  if (!isPlainObject(layer)) throw new InputError(`${source}: expected a mapping of settings, got ${Array.isArray(layer) ? 'a list' : typeof layer}`);
  const clean = dropUndefined(layer);
  const result = trainConfigSchema.safeParse(clean);
  if (!result.success) throw new InputError(describeIssues(source, result.error));
  return clean;
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
  for (const placeholder of ['{instruction}', '{response}']) {
    if (!c.judgePrompt.includes(placeholder)) problems.push(`judgePrompt has no ${placeholder} placeholder: the judge would not see the interaction`);
  }
  return problems;
}

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

/** Reads a JSON (`.json`) or YAML (anything else) config file; errors name the file. */
export function loadConfigFile(file: string): Layer {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new InputError(`${file}: cannot read the config file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const json = file.toLowerCase().endsWith('.json');
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
