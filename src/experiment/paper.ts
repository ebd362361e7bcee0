/**
 * `selfplay experiment paper`: the paper's comparison (its Figures 2 and 3) reproduced in the embedded world.
 *
 * Arms, all from the same base model and seed: base (no training); GRPO on a fixed set of world prompts (the
 * paper's "with data" baseline); LSP-Zero; LSP; and LSP started from the GRPO model (whose frozen reference is then
 * the GRPO model, as in the paper). Each trained arm is a run folder `<out>/<arm>/` made by the ordinary training
 * loop, then every model answers the held-out world set near-greedily and the verifier judges each arm against the
 * base (paper-eval.ts); paper-report.ts writes the markdown, the SVG figures and results.json.
 *
 * Resumable: an arm with a finished `model/` is skipped, an unfinished one resumes from its last checkpoint, and
 * the models' evaluation answers are cached, so rerunning the same command continues where it stopped.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { InputError } from '../errors.ts';
import { resolveConfig, type Mode, type TrainConfig } from '../rl/config.ts';
import { Runtime } from '../runtime/runtime.ts';
import { train } from '../train/lsp.ts';
import { claimRunFolder, markRunFolder, prepareRunFolder, readJson, readJsonl, writeFileAtomic, writeJsonAtomic } from '../train/run-folder.ts';
import { runSettings } from '../train/settings.ts';
import { probeWritable } from '../util/fs.ts';
import { corpusStream } from '../world/corpus.ts';
import { MAX_DIFFICULTY } from '../world/types.ts';
import { classify, instanceKey } from '../world/world.ts';
import { ChatModel } from '../generate/chat.ts';
import { filterFrontier, type FrontierRange, frontierLevels, type LevelSuccess, measureLevelSuccess, probeInstructions } from './frontier.ts';
import { diversityOverTraining, type QuerySample, windowSize } from './diversity.ts';
import { evaluateModels, evalPrompts } from './paper-eval.ts';
import { writePaperDoc } from './paper-report.ts';
import type { PaperResults } from './results.ts';

export const BUDGET_NAMES = ['tiny', 'small', 'full'] as const;
export type Budget = (typeof BUDGET_NAMES)[number];

export interface BudgetSpec {
  /** Training iterations of every trained arm (LSP from GRPO gets as many again, on top of GRPO's). */
  iterations: number;
  N: number;
  G: number;
  checkpointEvery: number;
  /** Size of GRPO's fixed prompt set. */
  grpoPrompts: number;
  /** Held-out items per family (spread over the difficulty levels); null = all of them (120 per family). */
  evalPerFamily: number | null;
  /** Answer budget in evaluation (world answers are a word or a number). */
  evalMaxTokens: number;
  /** --grpo-frontier's probe: instructions per (family, level), and samples of each at temperature 1. */
  frontierProbe: { items: number; k: number };
  /** Max new tokens per role in training; null = the training config's defaults. */
  maxTokens: { challenger: number; solver: number; judge: number } | null;
}

/**
 * The budgets, in one place. `small` must finish in under 60 minutes on 2 cores for the default model;
 * `tiny` exists for the end-to-end test only.
 */
export const BUDGETS: Record<Budget, BudgetSpec> = {
  tiny: { iterations: 2, N: 2, G: 2, checkpointEvery: 1, grpoPrompts: 16, evalPerFamily: 2, evalMaxTokens: 6, frontierProbe: { items: 1, k: 2 }, maxTokens: { challenger: 12, solver: 6, judge: 12 } },
  small: { iterations: 80, N: 8, G: 4, checkpointEvery: 10, grpoPrompts: 256, evalPerFamily: null, evalMaxTokens: 64, frontierProbe: { items: 12, k: 8 }, maxTokens: null },
  full: { iterations: 200, N: 8, G: 4, checkpointEvery: 20, grpoPrompts: 256, evalPerFamily: null, evalMaxTokens: 64, frontierProbe: { items: 12, k: 8 }, maxTokens: null },
};

export interface ArmSpec {
  name: string;
  label: string;
  mode: Mode;
  /** The model training starts from (and its frozen reference): the base model or the GRPO arm's result. */
  start: 'base' | 'grpo';
  /** The paper's AlpacaEval win rate (%) against its base model, Llama-3.2-3B-Instruct (v1, GPT-4o judge). */
  paperWinRate: number;
}

/** The trained arms, in training order (LSP from GRPO needs GRPO first). */
export const ARMS: readonly ArmSpec[] = [
  { name: 'grpo', label: 'GRPO (with data)', mode: 'grpo', start: 'base', paperWinRate: 40.9 },
  { name: 'lsp-zero', label: 'LSP-Zero', mode: 'lsp-zero', start: 'base', paperWinRate: 40.1 },
  { name: 'lsp', label: 'LSP', mode: 'lsp', start: 'base', paperWinRate: 40.6 },
  { name: 'lsp-from-grpo', label: 'LSP from GRPO', mode: 'lsp', start: 'grpo', paperWinRate: 43.1 },
];

export interface PaperOptions {
  model: string;
  budget: Budget;
  seed: number;
  out: string;
  doc: string;
  threads?: number;
  quiet?: boolean;
  /** Keep only GRPO prompts of levels where the base's exact success at temperature 1 is in [lo, hi]; null = all. */
  grpoFrontier?: FrontierRange | null;
  /** Receives one line per step (the CLI writes them to stderr). */
  log?: (line: string) => void;
}

/** What the experiment folder remembers between sessions: its settings and the time spent so far. */
interface ExperimentState {
  model: string;
  budget: Budget;
  seed: number;
  trainSeconds: Record<string, number>;
  evalSeconds: Record<string, number>;
}

export const GRPO_PROMPTS_FILE = 'grpo-prompts.jsonl';
/** The frontier measurement (with --grpo-frontier): per (family, level) success of the base model. */
export const GRPO_FRONTIER_FILE = 'grpo-frontier.json';

/** One line of the GRPO prompt set. */
export interface GrpoPrompt {
  instruction: string;
  family: string;
  difficulty: number;
}
const STATE_FILE = 'experiment.json';

/** The command that reproduces a run, in canonical form (written into the doc). */
export function commandLine(o: PaperOptions): string {
  const parts = ['npx selfplay experiment paper', `--model ${o.model}`, `--budget ${o.budget}`, `--seed ${o.seed}`, `--out ${o.out}`, `--doc ${o.doc}`];
  if (o.grpoFrontier) parts.push(`--grpo-frontier ${o.grpoFrontier.lo},${o.grpoFrontier.hi}`);
  if (o.threads !== undefined) parts.push(`--threads ${o.threads}`);
  return parts.join(' ');
}

function checkOptions(o: PaperOptions): void {
  if (!(BUDGET_NAMES as readonly string[]).includes(o.budget)) throw new InputError(`--budget: expected one of small, full; got "${o.budget}"`);
  if (!Number.isInteger(o.seed) || o.seed < 0) throw new InputError(`--seed: expected an integer >= 0, got ${o.seed}`);
  if (!fs.existsSync(path.join(o.model, 'config.json'))) {
    throw new InputError(`--model ${o.model}: no config.json; expected an HF model folder (models/default is made by \`selfplay pretrain\`)`);
  }
  if (!o.doc.endsWith('.md')) throw new InputError(`--doc ${o.doc}: expected a markdown file name ending in .md (the SVG figures are written next to it)`);
}

/** The saved state, or a new one; a folder made with other settings is refused, naming the fields that differ. */
function loadState(o: PaperOptions): ExperimentState {
  const file = path.join(o.out, STATE_FILE);
  const fresh: ExperimentState = { model: path.resolve(o.model), budget: o.budget, seed: o.seed, trainSeconds: {}, evalSeconds: {} };
  if (!fs.existsSync(file)) return fresh;
  const saved = readJson(file) as ExperimentState;
  const differ = (['model', 'budget', 'seed'] as const).filter((k) => saved[k] !== fresh[k]);
  if (differ.length) {
    const what = differ.map((k) => `${k} ${JSON.stringify(saved[k])} there, ${JSON.stringify(fresh[k])} now`).join('; ');
    throw new InputError(`${o.out} holds an experiment with other settings (${what}); choose another --out or rerun with its settings`);
  }
  return { ...fresh, trainSeconds: saved.trainSeconds ?? {}, evalSeconds: saved.evalSeconds ?? {} };
}

/**
 * GRPO's fixed prompt set: `count` distinct world instructions from a seeded solver stream, levels 1..6 mixed
 * across all families, never an instance of the held-out evaluation set (the corpus excludes them).
 */
export function grpoPrompts(seed: number, count: number, keep?: (family: string, difficulty: number) => boolean): GrpoPrompt[] {
  const stream = corpusStream({ seed, roles: { solver: 1 }, difficulty: [1, MAX_DIFFICULTY] });
  const seen = new Set<string>();
  const out: GrpoPrompt[] = [];
  for (let drawn = 0; out.length < count; drawn++) {
    if (drawn > 1000 * count) throw new InputError(`GRPO prompt set: only ${out.length} distinct instructions of the kept levels in ${drawn} draws, ${count} wanted`);
    const ex = stream.next().value!;
    const c = classify(ex.prompt);
    if (!c.valid || seen.has(instanceKey(c.instance)) || (keep && !keep(c.family, c.difficulty))) continue;
    seen.add(instanceKey(c.instance));
    out.push({ instruction: ex.prompt, family: c.family, difficulty: c.difficulty });
  }
  return out;
}

/** Writes the prompt file once; an existing different one (another seed, budget or frontier) is an error. */
export async function writeGrpoPrompts(o: PaperOptions): Promise<string> {
  const file = path.join(o.out, GRPO_PROMPTS_FILE);
  const keep = o.grpoFrontier ? await grpoFrontier(o, o.grpoFrontier) : undefined;
  const text = grpoPrompts(o.seed, BUDGETS[o.budget].grpoPrompts, keep).map((p) => JSON.stringify(p)).join('\n') + '\n';
  if (!fs.existsSync(file)) writeFileAtomic(file, text);
  else if (fs.readFileSync(file, 'utf8') !== text) throw new InputError(`${file} differs from the prompt set of seed ${o.seed}, budget ${o.budget}, frontier ${JSON.stringify(o.grpoFrontier ?? null)}; was it made with other settings, or edited?`);
  return file;
}

/**
 * The levels where the base model's exact success at temperature 1 is in the range, measured once on a probe set
 * (its own seed, disjoint from the held-out set) and saved to grpo-frontier.json, which a rerun reuses.
 */
async function grpoFrontier(o: PaperOptions, range: FrontierRange): Promise<(family: string, difficulty: number) => boolean> {
  const file = path.join(o.out, GRPO_FRONTIER_FILE);
  const saved = fs.existsSync(file) ? (readJson(file) as { range: FrontierRange; levels: LevelSuccess[] }) : null;
  let levels = saved && saved.range.lo === range.lo && saved.range.hi === range.hi ? saved.levels : null;
  if (!levels) {
    const size = BUDGETS[o.budget].frontierProbe;
    const probe = probeInstructions(o.seed + 7919, size.items);
    (o.log ?? (() => {}))(`grpo frontier: the base model answers ${probe.length} probe instructions ${size.k} times at temperature 1`);
    const runtime = new Runtime({ threads: o.threads });
    try {
      levels = await measureLevelSuccess(ChatModel.load(o.model, runtime, 'frontier'), probe, size.k, o.seed, BUDGETS[o.budget].evalMaxTokens);
    } finally {
      await runtime.release();
    }
    writeJsonAtomic(file, { range, probe: { instructions: probe.length, samples: size.k }, levels, kept: frontierLevels(levels, range) });
  }
  const kept = frontierLevels(levels, range);
  if (kept.length === 0) {
    throw new InputError(`--grpo-frontier ${range.lo},${range.hi}: no (family, level) of the base model has exact success in that range (${GRPO_FRONTIER_FILE} lists them)`);
  }
  return (family, difficulty) => filterFrontier([{ family, difficulty }], kept).length > 0;
}

const armDir = (o: PaperOptions, arm: ArmSpec) => path.join(o.out, arm.name);
const startModel = (o: PaperOptions, arm: ArmSpec) => (arm.start === 'base' ? o.model : path.join(o.out, 'grpo', 'model'));
const isFinished = (dir: string) => fs.existsSync(path.join(dir, 'model', 'config.json'));

/** The arm's training config, resolved by the same schema as `selfplay train`. */
export function armConfig(o: PaperOptions, arm: ArmSpec, promptsFile: string): TrainConfig {
  const b = BUDGETS[o.budget];
  const sampling = b.maxTokens && { challenger: { maxTokens: b.maxTokens.challenger }, solver: { maxTokens: b.maxTokens.solver }, judge: { maxTokens: b.maxTokens.judge } };
  return resolveConfig(
    {},
    {
      model: startModel(o, arm),
      mode: arm.mode,
      out: armDir(o, arm),
      iterations: b.iterations,
      N: b.N,
      G: b.G,
      seed: o.seed,
      checkpointEvery: b.checkpointEvery,
      quiet: o.quiet ?? false,
      promptsFile: arm.mode === 'grpo' ? promptsFile : undefined,
      sampling: sampling || undefined,
    },
    { flagsName: `experiment arm ${arm.name}` },
  );
}

const PATH_FIELDS = new Set(['model', 'out', 'promptsFile']);

/** An existing config.json must be this experiment's (up to `quiet`), or resuming would mix two runs. */
function checkSavedConfig(dir: string, config: TrainConfig): void {
  const file = path.join(dir, 'config.json');
  if (!fs.existsSync(file)) return;
  const saved = readJson(file) as Record<string, unknown>;
  const now = config as unknown as Record<string, unknown>;
  // folders compare as absolute paths, so `runs/x` and `./runs/x` (or its absolute form) are the same run
  const same = (k: string) => (PATH_FIELDS.has(k) && typeof saved[k] === 'string' && typeof now[k] === 'string' ? path.resolve(saved[k]) === path.resolve(now[k]) : JSON.stringify(saved[k]) === JSON.stringify(now[k]));
  const differ = Object.keys({ ...saved, ...now }).filter((k) => k !== 'quiet' && !same(k));
  if (differ.length) throw new InputError(`${file}: the saved run differs from this experiment in ${differ.join(', ')}; choose another --out`);
}

/** Trains one arm (or resumes it); returns false when training was interrupted. */
async function trainArm(o: PaperOptions, arm: ArmSpec, promptsFile: string, state: ExperimentState): Promise<boolean> {
  const log = o.log ?? (() => {});
  const dir = armDir(o, arm);
  if (isFinished(dir)) {
    log(`${arm.name}: finished earlier (${path.join(dir, 'model')}), skipped`);
    return true;
  }
  const config = armConfig(o, arm, promptsFile);
  checkSavedConfig(dir, config);
  const resuming = fs.existsSync(path.join(dir, 'checkpoints'));
  const { continuing } = claimRunFolder(dir, { kind: 'train', intent: 'either', flag: `arm ${arm.name}`, reads: { '--model': config.model } });
  prepareRunFolder(dir, 'train', continuing);
  const runtime = new Runtime({ threads: o.threads });
  const settings = { ...runSettings(config, runtime, o.threads), savedConfig: config };
  log(`${arm.name}: ${resuming ? 'resuming' : 'training'} ${config.mode} from ${config.model}, ${config.iterations} iterations of N=${config.N} x G=${config.G}, run folder ${dir}`);
  const started = performance.now();
  const model = await train(settings);
  await runtime.release();
  state.trainSeconds[arm.name] = (state.trainSeconds[arm.name] ?? 0) + (performance.now() - started) / 1000;
  writeJsonAtomic(path.join(o.out, STATE_FILE), state);
  return model !== null;
}

/** The challenger's queries logged in samples.jsonl. */
function readQueries(file: string): QuerySample[] {
  return readJsonl(file).map((r, i) => {
    if (typeof r.iteration !== 'number' || typeof r.query !== 'string') throw new InputError(`${file}: record ${i + 1} has no numeric "iteration" and string "query"`);
    return { iteration: r.iteration, query: r.query };
  });
}

export interface PaperOutcome {
  /** False when training was interrupted (rerun the same command to continue). */
  finished: boolean;
  /** Files written (the doc, its figures, results.json). */
  files: string[];
  results?: PaperResults;
}

/** Runs (or continues) the whole experiment and writes the doc. */
export async function runPaperExperiment(o: PaperOptions): Promise<PaperOutcome> {
  checkOptions(o);
  const log = o.log ?? (() => {});
  claimRunFolder(o.out, { kind: 'experiment', intent: 'either', flag: '--out', reads: { '--model': o.model } });
  const state = loadState(o);
  probeWritable(o.out);
  markRunFolder(o.out, 'experiment');
  writeJsonAtomic(path.join(o.out, STATE_FILE), state);
  const promptsFile = await writeGrpoPrompts(o);
  for (const arm of ARMS) {
    if (!(await trainArm(o, arm, promptsFile, state))) return { finished: false, files: [] };
  }
  const b = BUDGETS[o.budget];
  const prompts = evalPrompts(b.evalPerFamily);
  const generation = { temperature: 0.01, maxTokens: b.evalMaxTokens, seed: o.seed, batchSize: 16 };
  const models = [{ name: 'base', dir: o.model }, ...ARMS.map((arm) => ({ name: arm.name, dir: path.join(armDir(o, arm), 'model') }))];
  log(`evaluating ${models.length} models on ${prompts.length} held-out world instructions (temperature ${generation.temperature}, verifier judge)`);
  const evals = await evaluateModels({
    out: path.join(o.out, 'eval'),
    models,
    prompts,
    generation,
    bootstrapSeed: o.seed,
    threads: o.threads,
    quiet: o.quiet,
    log,
    onSeconds: (name, seconds) => {
      state.evalSeconds[name] = (state.evalSeconds[name] ?? 0) + seconds;
      writeJsonAtomic(path.join(o.out, STATE_FILE), state);
    },
  });
  const results: PaperResults = {
    command: commandLine(o),
    date: new Date().toISOString(),
    machine: `${os.availableParallelism()} cores (${os.cpus()[0]?.model ?? 'unknown CPU'})`,
    model: o.model,
    budget: o.budget,
    spec: b,
    seed: o.seed,
    threads: o.threads,
    out: o.out,
    evalItems: prompts.length,
    generation,
    arms: ARMS.map((arm) => ({
      ...arm,
      startModel: startModel(o, arm),
      trainSeconds: state.trainSeconds[arm.name] ?? NaN,
      metrics: readJsonl(path.join(armDir(o, arm), 'metrics.jsonl')),
      diversity: arm.mode === 'grpo' ? [] : diversityOverTraining(readQueries(path.join(armDir(o, arm), 'samples.jsonl')), windowSize(b.iterations)),
    })),
    evals,
    evalSeconds: state.evalSeconds,
  };
  const files = writePaperDoc(o.doc, results);
  writeJsonAtomic(path.join(o.out, 'results.json'), { ...results, arms: results.arms.map(({ metrics: _m, ...rest }) => rest) });
  files.push(path.join(o.out, 'results.json'));
  log(`wrote ${files.join(', ')}`);
  return { finished: true, files, results };
}
