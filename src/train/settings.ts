/**
 * From a resolved run config to the settings the LSP loop runs with: the game's tasks, the GRPO prompt set read from
 * its file, and the reward source (the world's verifier, or a reward model loaded from its folder).
 */
import fs from 'node:fs';
import { InputError } from '../errors.ts';
import { exactVerifierReward, type RewardSource, type TaskSpec, verifierReward } from '../game/rollout.ts';
import { RewardModel } from '../model/reward-model.ts';
import { effectiveLoss, type TrainConfig } from '../rl/config.ts';
import { judgeRewardFromConfig } from '../rewards/judge-reward.ts';
import type { Runtime } from '../runtime/runtime.ts';
import { FAMILY_NAMES, type FamilyName } from '../world/types.ts';
import type { RunSettings } from './lsp.ts';

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

function rewardSource(c: TrainConfig, runtime: Runtime): RewardSource {
  const spec = c.rewardSource;
  if (spec === 'verifier') return c.verifierReward === 'exact' ? exactVerifierReward : verifierReward;
  const judge = judgeRewardFromConfig(c);
  if (judge) return judge;
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
    policyLoss: effectiveLoss(c),
    threads,
    reward: rewardSource(c, runtime),
  };
}
