/**
 * `selfplay experiment paper`: the paper's comparison (its Figures 2 and 3) reproduced in the embedded world.
 *
 * Arms (the budget's, src/experiment/arms.ts), all from the same base model and seed: base (no training); GRPO on a
 * fixed set of world prompts (the paper's "with data" baseline, filtered to the base's frontier levels); LSP-Zero;
 * LSP; the ablation arms (LSP with one challenger reward option flipped); and in the full budget LSP started from the
 * GRPO model (whose frozen reference is then the GRPO model, as in the paper). Each trained arm is a run folder
 * `<out>/<arm>/` made by the ordinary training loop; then every model answers held-out world items greedily and k
 * times at temperature 1, and each arm is compared with the base (paper-eval.ts: verifier win rate, paired
 * accuracy tests); paper-report.ts writes the markdown, the SVG figures and results.json.
 *
 * Resumable: an arm with a finished `model/` is skipped, an unfinished one resumes from its last checkpoint, and
 * the models' evaluation answers are cached, so rerunning the same command continues where it stopped.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { InputError } from '../errors.ts';
import type { TrainConfig } from '../rl/config.ts';
import { claimRunFolder, markRunFolder, readJson, readJsonl, writeFileAtomic, writeJsonAtomic } from '../train/run-folder.ts';
import { probeWritable } from '../util/fs.ts';
import { corpusStream } from '../world/corpus.ts';
import { MAX_DIFFICULTY } from '../world/types.ts';
import { classify, instanceKey } from '../world/world.ts';
import { armConfig, type ArmSpec, type Budget, BUDGET_NAMES, budgetArms, BUDGETS } from './arms.ts';
import { filterFrontier, type FrontierRange } from './frontier.ts';
import { diversityOverTraining, type QuerySample, windowSize } from './diversity.ts';
import { evaluateModels, evalPrompts } from './paper-eval.ts';
import { writePaperDoc } from './paper-report.ts';
import type { PaperResults } from './results.ts';
import { measuredFrontier, trainRun } from './runner.ts';

export { ALL_ARMS, BUDGET_NAMES, BUDGETS, budgetArms, type ArmSpec, type Budget, type BudgetSpec } from './arms.ts';

export interface PaperOptions {
  model: string;
  budget: Budget;
  seed: number;
  out: string;
  doc: string;
  threads?: number;
  quiet?: boolean;
  /** GRPO's frontier filter (levels where the base's exact success at temperature 1 is in [lo, hi]; null = all levels); undefined: the budget's. */
  grpoFrontier?: FrontierRange | null;
  /** Other experiments' results.json (e.g. another seed) whose headline numbers the doc quotes. */
  also?: string[];
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
  /** Seconds of the frontier probe. */
  probeSeconds?: number;
}

export const GRPO_PROMPTS_FILE = 'grpo-prompts.jsonl';
/** The frontier measurement: per (family, level) success of the base model. */
export const GRPO_FRONTIER_FILE = 'grpo-frontier.json';

/** One line of the GRPO prompt set. */
export interface GrpoPrompt {
  instruction: string;
  family: string;
  difficulty: number;
}
const STATE_FILE = 'experiment.json';

/** The frontier GRPO's prompts are filtered to: the flag's, else the budget's. */
export const frontierOf = (o: PaperOptions): FrontierRange | null => (o.grpoFrontier !== undefined ? o.grpoFrontier : BUDGETS[o.budget].grpoFrontier);

/** The command that reproduces a run, in canonical form (written into the doc). */
export function commandLine(o: PaperOptions): string {
  const parts = ['npx selfplay experiment paper', `--model ${o.model}`, `--budget ${o.budget}`, `--seed ${o.seed}`, `--out ${o.out}`, `--doc ${o.doc}`];
  if (o.grpoFrontier) parts.push(`--grpo-frontier ${o.grpoFrontier.lo},${o.grpoFrontier.hi}`);
  if (o.threads !== undefined) parts.push(`--threads ${o.threads}`);
  if (o.also?.length) parts.push(`--also ${o.also.join(' ')}`);
  return parts.join(' ');
}

function checkOptions(o: PaperOptions): void {
  if (!(BUDGET_NAMES as readonly string[]).includes(o.budget)) throw new InputError(`--budget: expected one of small, full; got "${o.budget}"`);
  if (!Number.isInteger(o.seed) || o.seed < 0) throw new InputError(`--seed: expected an integer >= 0, got ${o.seed}`);
  if (!fs.existsSync(path.join(o.model, 'config.json'))) {
    throw new InputError(`--model ${o.model}: no config.json; expected an HF model folder (models/default is made by \`selfplay pretrain\`)`);
  }
  for (const f of o.also ?? []) if (!fs.existsSync(f)) throw new InputError(`--also ${f}: no such file; expected a finished experiment's results.json`);
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
  return { ...fresh, trainSeconds: saved.trainSeconds ?? {}, evalSeconds: saved.evalSeconds ?? {}, probeSeconds: saved.probeSeconds };
}

/**
 * GRPO's fixed prompt set: `count` distinct world instructions from a seeded solver stream, levels 1..6 mixed
 * across all families (or only the kept levels), never an instance of a held-out set (the corpus excludes them).
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
  const b = BUDGETS[o.budget];
  const range = frontierOf(o);
  let keep: ((family: string, difficulty: number) => boolean) | undefined;
  if (range) {
    const kept = await measuredFrontier({ model: o.model, file: path.join(o.out, GRPO_FRONTIER_FILE), range, seed: o.seed, ...b.frontierProbe, maxTokens: b.evalMaxTokens, threads: o.threads, log: o.log });
    keep = (family, difficulty) => filterFrontier([{ family, difficulty }], kept).length > 0;
  }
  const text = grpoPrompts(o.seed, b.grpoPrompts, keep).map((p) => JSON.stringify(p)).join('\n') + '\n';
  if (!fs.existsSync(file)) writeFileAtomic(file, text);
  else if (fs.readFileSync(file, 'utf8') !== text) throw new InputError(`${file} differs from the prompt set of seed ${o.seed}, budget ${o.budget}, frontier ${JSON.stringify(range)}; was it made with other settings, or edited?`);
  return file;
}

const armDir = (o: PaperOptions, arm: ArmSpec) => path.join(o.out, arm.name);
const startModel = (o: PaperOptions, arm: ArmSpec) => (arm.start === 'base' ? o.model : path.join(o.out, 'grpo', 'model'));

/** The arm's training config in this experiment (src/experiment/arms.ts resolves the layers). */
export function paperArmConfig(o: PaperOptions, arm: ArmSpec, promptsFile: string): TrainConfig {
  return armConfig(BUDGETS[o.budget], arm, { model: startModel(o, arm), out: armDir(o, arm), seed: o.seed, quiet: o.quiet ?? false, promptsFile });
}

/** Trains one arm (or resumes it); returns false when training was interrupted. */
async function trainArm(o: PaperOptions, arm: ArmSpec, promptsFile: string, state: ExperimentState): Promise<boolean> {
  const { seconds, finished } = await trainRun(arm.name, paperArmConfig(o, arm, promptsFile), o.threads, o.log ?? (() => {}));
  state.trainSeconds[arm.name] = (state.trainSeconds[arm.name] ?? 0) + seconds;
  writeJsonAtomic(path.join(o.out, STATE_FILE), state);
  return finished;
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
  const wall = performance.now();
  checkOptions(o);
  const log = o.log ?? (() => {});
  claimRunFolder(o.out, { kind: 'experiment', intent: 'either', flag: '--out', reads: { '--model': o.model } });
  const state = loadState(o);
  probeWritable(o.out);
  markRunFolder(o.out, 'experiment');
  writeJsonAtomic(path.join(o.out, STATE_FILE), state);
  const probeStart = performance.now();
  const hadProbe = fs.existsSync(path.join(o.out, GRPO_FRONTIER_FILE));
  const promptsFile = await writeGrpoPrompts(o);
  if (!hadProbe && frontierOf(o)) state.probeSeconds = (performance.now() - probeStart) / 1000;
  const b = BUDGETS[o.budget];
  const arms = budgetArms(b);
  for (const arm of arms) {
    if (!(await trainArm(o, arm, promptsFile, state))) return { finished: false, files: [] };
  }
  const prompts = evalPrompts(b.evalItems);
  const settings = { k: b.evalK, maxTokens: b.evalMaxTokens, seed: o.seed, batchSize: 64 };
  const models = [{ name: 'base', dir: o.model }, ...arms.map((arm) => ({ name: arm.name, dir: path.join(armDir(o, arm), 'model') }))];
  log(`evaluating ${models.length} models on ${prompts.length} held-out world instructions (greedy, and ${settings.k} samples at temperature 1; verifier)`);
  const evals = await evaluateModels({
    out: path.join(o.out, 'eval'),
    models,
    prompts,
    settings,
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
    grpoFrontier: frontierOf(o),
    seed: o.seed,
    threads: o.threads,
    out: o.out,
    evalItems: prompts.length,
    settings,
    arms: arms.map((arm) => {
      const config = paperArmConfig(o, arm, promptsFile);
      return {
        ...arm,
        startModel: startModel(o, arm),
        iterations: config.iterations,
        config: { lr: config.lr, N: config.N, G: config.G, verifierReward: config.verifierReward, challengerReward: config.challengerReward, invalidQueryPenalty: config.invalidQueryPenalty, repetitionPenalty: config.repetitionPenalty },
        trainSeconds: state.trainSeconds[arm.name] ?? NaN,
        metrics: readJsonl(path.join(armDir(o, arm), 'metrics.jsonl')),
        diversity: arm.mode === 'grpo' ? [] : diversityOverTraining(readQueries(path.join(armDir(o, arm), 'samples.jsonl')), windowSize(config.iterations)),
      };
    }),
    evals,
    evalSeconds: state.evalSeconds,
    probeSeconds: state.probeSeconds ?? 0,
    sessionSeconds: (performance.now() - wall) / 1000,
  };
  const others = (o.also ?? []).map((f) => readJson(f) as PaperResults);
  const files = writePaperDoc(o.doc, results, others);
  writeJsonAtomic(path.join(o.out, 'results.json'), { ...results, arms: results.arms.map(({ metrics: _m, ...rest }) => rest) });
  files.push(path.join(o.out, 'results.json'));
  log(`wrote ${files.join(', ')}`);
  return { finished: true, files, results };
}
