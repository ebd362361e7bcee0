/**
 * `selfplay train`: resolves the run config (file + flags, or the saved config of a run being resumed), writes it
 * to the run folder, builds the reward source, and runs the LSP loop (src/train/lsp.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import { InputError } from '../errors.ts';
import { type RewardSource, type TaskSpec, verifierReward } from '../game/rollout.ts';
import { RewardModel } from '../model/reward-model.ts';
import { loadConfigFile, resolveConfig, type TrainConfig } from '../rl/config.ts';
import { overridesFromFlags } from '../rl/config-flags.ts';
import { Runtime } from '../runtime/runtime.ts';
import { type RunSettings, train } from '../train/lsp.ts';
import { claimRunFolder, prepareRunFolder, readJson, writeJsonAtomic } from '../train/run-folder.ts';
import { FAMILY_NAMES, type FamilyName } from '../world/types.ts';

export interface TrainFlags extends Record<string, unknown> {
  config?: string;
  resume?: string;
  threads?: number;
}

/** The config of a new run, or of the run being resumed (with `--iterations` and `--quiet` allowed to change). */
function runConfig(flags: TrainFlags): TrainConfig {
  const overrides = overridesFromFlags(flags);
  if (!flags.resume) {
    const file = flags.config ? loadConfigFile(flags.config) : {};
    return resolveConfig(file, overrides, { fileName: flags.config, flagsName: 'command line' });
  }
  if (flags.config) throw new InputError('--resume continues a run with its own saved config; --config cannot be combined with it');
  const allowed = new Set(['iterations', 'quiet']);
  const changed = Object.keys(overrides).filter((k) => !allowed.has(k));
  if (changed.length) throw new InputError(`--resume: only --iterations and --quiet may change a run; got ${changed.map((k) => `--${k}`).join(', ')}`);
  const file = path.join(flags.resume, 'config.json');
  if (!fs.existsSync(file)) throw new InputError(`--resume ${flags.resume}: no config.json; not a run folder, or a run stopped before it began (start it again with --out ${flags.resume})`);
  return resolveConfig(readJson(file), { ...overrides, out: flags.resume }, { fileName: file });
}

function readPrompts(file: string): string[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new InputError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const prompts = text.split('\n').flatMap((line, i) => {
    if (line.trim() === '') return [];
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch (e) {
      throw new InputError(`${file}: line ${i + 1} is not JSON (${(e as Error).message})`);
    }
    const instruction = (row as { instruction?: unknown })?.instruction;
    if (typeof instruction !== 'string' || instruction.trim() === '') throw new InputError(`${file}: line ${i + 1} has no "instruction" string`);
    return [instruction];
  });
  if (prompts.length === 0) throw new InputError(`${file}: no instructions`);
  return prompts;
}

/** The config's tasks as the game's: world families, or explicit task/template pairs ('none': one empty pair). */
function gameTasks(tasks: TrainConfig['tasks']): { tasks: 'world' | TaskSpec[]; families: FamilyName[] } {
  if (tasks === 'all') return { tasks: 'world', families: [...FAMILY_NAMES] };
  if (tasks === 'none') return { tasks: [], families: [...FAMILY_NAMES] };
  if (typeof tasks[0] === 'string') return { tasks: 'world', families: tasks as FamilyName[] };
  return { tasks: tasks as TaskSpec[], families: [...FAMILY_NAMES] };
}

function rewardSource(spec: string, runtime: Runtime): RewardSource {
  if (spec === 'verifier') return verifierReward;
  const dir = spec.slice('reward-model:'.length);
  const rm = RewardModel.load(dir, runtime, 'reward-model');
  return {
    name: spec,
    score: async (queries_N, answers_N_G) => {
      const G = answers_N_G[0]?.length ?? 0;
      const flat = await rm.score(answers_N_G.flatMap((answers, i) => answers.map((response) => ({ prompt: queries_N[i], response }))));
      return queries_N.map((_, i) => flat.slice(i * G, (i + 1) * G));
    },
  };
}

export function runSettings(c: TrainConfig, runtime: Runtime, threads?: number): RunSettings {
  return {
    ...c,
    ...gameTasks(c.tasks),
    prompts: c.mode === 'grpo' && c.promptsFile ? readPrompts(c.promptsFile) : undefined,
    lora: c.lora,
    threads,
    reward: rewardSource(c.rewardSource, runtime),
  };
}

/** Before any compute: the run folder is new (or the run resumed), apart from what the run reads, and writable. */
function claimTrainFolder(config: TrainConfig, resume: boolean): void {
  const reads = {
    '--model': config.model,
    '--reward-source': config.rewardSource.startsWith('reward-model:') ? config.rewardSource.slice('reward-model:'.length) : undefined,
    '--prompts-file': config.promptsFile ?? undefined,
  };
  const { continuing } = claimRunFolder(config.out, { kind: 'train', intent: resume ? 'resume' : 'new', flag: resume ? '--resume' : '--out', reads });
  prepareRunFolder(config.out, 'train', continuing);
  if (!continuing) writeJsonAtomic(path.join(config.out, 'config.json'), config); // a new run: nothing to choose first
}

export async function trainCommand(flags: TrainFlags): Promise<void> {
  const config = runConfig(flags);
  if (!fs.existsSync(path.join(config.model, 'config.json'))) {
    throw new InputError(`${config.model}: no config.json; --model must be an HF model folder (the default is models/default)`);
  }
  claimTrainFolder(config, Boolean(flags.resume));
  const runtime = new Runtime({ threads: flags.threads });
  const settings = { ...runSettings(config, runtime, flags.threads), savedConfig: config };
  const log = (s: string) => process.stderr.write(`${s}\n`);
  log(`${config.mode} on ${config.model}: ${config.iterations} iterations of N=${config.N} queries x G=${config.G} answers; run folder ${config.out}`);
  const model = await train(settings);
  await runtime.release();
  if (!model) {
    log(`stopped; the run is saved. Continue with: npx selfplay train --resume ${config.out}`);
    return;
  }
  log(`done. metrics: ${path.join(config.out, 'metrics.jsonl')}, samples: ${path.join(config.out, 'samples.jsonl')}`);
  log(`trained model: ${model}`);
  log(`evaluate it against the base: npx selfplay eval --model ${model} --baseline ${config.model} --set world`);
}
