/**
 * The pieces an experiment and a sweep share: the base model's frontier levels (measured once on a probe set and
 * saved), and training one run folder from a resolved config (or resuming it; a finished one is skipped).
 */
import fs from 'node:fs';
import path from 'node:path';
import { InputError } from '../errors.ts';
import { ChatModel } from '../generate/chat.ts';
import { trainConfigSchema, type TrainConfig } from '../rl/config.ts';
import { Runtime } from '../runtime/runtime.ts';
import { train } from '../train/lsp.ts';
import { claimRunFolder, prepareRunFolder, readJson, writeJsonAtomic } from '../train/run-folder.ts';
import { runSettings } from '../train/settings.ts';
import { type FrontierRange, frontierLevels, type LevelSuccess, measureLevelSuccess, probeInstructions } from './frontier.ts';

/**
 * Resident memory (MB) above which an experiment's runtime releases its least recently used sessions. The runtime's
 * default (a quarter of the machine) let an LSP arm on the default model reach 6 GB and be OOM-killed on a shared
 * 24 GB machine; 3 GB costs some recompiles, not correctness.
 */
export const EXPERIMENT_MEMORY_MB = 3000;

/** The runtime every experiment step uses. */
export const experimentRuntime = (threads?: number) => new Runtime({ threads, memoryBudgetMB: EXPERIMENT_MEMORY_MB });

export interface FrontierProbe {
  model: string;
  /** The saved measurement (reused when its range matches). */
  file: string;
  range: FrontierRange;
  seed: number;
  items: number;
  k: number;
  maxTokens: number;
  threads?: number;
  log?: (line: string) => void;
}

/**
 * The levels where the base model's exact success at temperature 1 is in the range, measured once on a probe set
 * (its own seed, disjoint from the held-out sets) and saved, so a rerun reuses it.
 */
export async function measuredFrontier(p: FrontierProbe): Promise<LevelSuccess[]> {
  const saved = fs.existsSync(p.file) ? (readJson(p.file) as { range: FrontierRange; levels: LevelSuccess[] }) : null;
  let levels = saved && saved.range.lo === p.range.lo && saved.range.hi === p.range.hi ? saved.levels : null;
  if (!levels) {
    const probe = probeInstructions(p.seed + 7919, p.items);
    p.log?.(`frontier: the base model answers ${probe.length} probe instructions ${p.k} times at temperature 1`);
    const runtime = experimentRuntime(p.threads);
    try {
      levels = await measureLevelSuccess(ChatModel.load(p.model, runtime, 'frontier'), probe, p.k, p.seed, p.maxTokens);
    } finally {
      await runtime.release();
    }
    writeJsonAtomic(p.file, { range: p.range, probe: { instructions: probe.length, samples: p.k }, levels, kept: frontierLevels(levels, p.range) });
  }
  const kept = frontierLevels(levels, p.range);
  if (kept.length === 0) throw new InputError(`frontier ${p.range.lo},${p.range.hi}: no (family, level) of the base model has exact success in that range (${p.file} lists them)`);
  return kept;
}

const PATH_FIELDS = new Set(['model', 'out', 'promptsFile']);

/** An existing config.json must be this run's (up to `quiet`), or resuming would mix two runs. */
export function checkSavedConfig(dir: string, config: TrainConfig): void {
  const file = path.join(dir, 'config.json');
  if (!fs.existsSync(file)) return;
  const saved = readJson(file) as Record<string, unknown>;
  const now = config as unknown as Record<string, unknown>;
  // folders compare as absolute paths, so `runs/x` and `./runs/x` (or its absolute form) are the same run
  const same = (k: string) => (PATH_FIELDS.has(k) && typeof saved[k] === 'string' && typeof now[k] === 'string' ? path.resolve(saved[k]) === path.resolve(now[k]) : JSON.stringify(saved[k]) === JSON.stringify(now[k]));
  // a setting added to the schema after the run was saved is absent there: equal when it holds its default
  const defaults = trainConfigSchema.parse({}) as Record<string, unknown>;
  const newDefault = (k: string) => !(k in saved) && JSON.stringify(now[k]) === JSON.stringify(defaults[k]);
  const differ = Object.keys({ ...saved, ...now }).filter((k) => k !== 'quiet' && !same(k) && !newDefault(k));
  if (differ.length) throw new InputError(`${file}: the saved run differs from this experiment in ${differ.join(', ')}; choose another --out`);
}

export const isFinished = (dir: string) => fs.existsSync(path.join(dir, 'model', 'config.json'));

/** Trains the config's run folder (or resumes it); a finished folder is skipped (0 seconds). */
export async function trainRun(name: string, config: TrainConfig, threads: number | undefined, log: (line: string) => void): Promise<{ seconds: number; finished: boolean }> {
  const dir = config.out;
  if (isFinished(dir)) {
    log(`${name}: finished earlier (${path.join(dir, 'model')}), skipped`);
    return { seconds: 0, finished: true };
  }
  checkSavedConfig(dir, config);
  const resuming = fs.existsSync(path.join(dir, 'checkpoints'));
  const { continuing } = claimRunFolder(dir, { kind: 'train', intent: 'either', flag: `arm ${name}`, reads: { '--model': config.model } });
  prepareRunFolder(dir, 'train', continuing);
  const runtime = experimentRuntime(threads);
  const settings = { ...runSettings(config, runtime, threads), savedConfig: config };
  log(`${name}: ${resuming ? 'resuming' : 'training'} ${config.mode} from ${config.model}, ${config.iterations} iterations of N=${config.N} x G=${config.G}, lr ${config.lr}, run folder ${dir}`);
  const started = performance.now();
  try {
    const model = await train(settings);
    return { seconds: (performance.now() - started) / 1000, finished: model !== null };
  } finally {
    await runtime.release();
  }
}
