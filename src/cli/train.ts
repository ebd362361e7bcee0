/**
 * `selfplay train`: resolves the run config (file + flags, or the saved config of a run being resumed), writes it
 * to the run folder, and runs the LSP loop (src/train/lsp.ts) with the settings of src/train/settings.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { InputError } from '../errors.ts';
import { preflightChatFolder } from '../model/modelfolder.ts';
import { periodicSolverEval } from '../eval/world-quality.ts';
import { loadConfigFile, resolveConfig, type TrainConfig } from '../rl/config.ts';
import { overridesFromFlags } from '../rl/config-flags.ts';
import { Runtime } from '../runtime/runtime.ts';
import { train } from '../train/lsp.ts';
import { probeService } from '../train/remote-run.ts';
import { claimRunFolder, prepareRunFolder, readJson, writeJsonAtomic } from '../train/run-folder.ts';
import { runSettings } from '../train/settings.ts';

export interface TrainFlags extends Record<string, unknown> {
  config?: string;
  resume?: string;
  threads?: number;
  /** The tinker service's API key (default: TINKER_API_KEY); never saved in the run folder. */
  apiKey?: string;
}

/** The config of a new run, or of the run being resumed (with `--iterations`, `--quiet` and the guard switches allowed to change). */
function runConfig(flags: TrainFlags): TrainConfig {
  const overrides = overridesFromFlags(flags);
  if (!flags.resume) {
    const file = flags.config ? loadConfigFile(flags.config) : {};
    return resolveConfig(file, overrides, { fileName: flags.config, flagsName: 'command line' });
  }
  if (flags.config) throw new InputError('--resume continues a run with its own saved config; --config cannot be combined with it');
  // a remote run may continue on the same service at a new address (restarted on another port)
  const allowed = new Set(['iterations', 'quiet', 'guard', 'onCollapse', 'backend']);
  const changed = Object.keys(overrides).filter((k) => !allowed.has(k));
  if (changed.length) throw new InputError(`--resume: only --iterations, --quiet, --guard, --on-collapse and (for a tinker run) --backend may change a run; got ${changed.map((k) => `--${k}`).join(', ')}`);
  const file = path.join(flags.resume, 'config.json');
  if (!fs.existsSync(file)) throw new InputError(`--resume ${flags.resume}: no config.json; not a run folder, or a run stopped before it began (start it again with --out ${flags.resume})`);
  const saved = resolveConfig(readJson(file), { out: flags.resume }, { fileName: file });
  const newBackend = overrides.backend as string | undefined;
  if (newBackend !== undefined && (!saved.backend.startsWith('tinker:') || !newBackend.startsWith('tinker:'))) {
    throw new InputError(`--resume: --backend ${newBackend} cannot continue a run made with backend ${saved.backend}; only a tinker run may move to another tinker:URL (the same service, restarted)`);
  }
  return resolveConfig(readJson(file), { ...overrides, out: flags.resume }, { fileName: file });
}

/** Before any compute: the run folder is new (or the run resumed), apart from what the run reads, and writable. */
function claimTrainFolder(config: TrainConfig, resume: boolean): boolean {
  const reads = {
    '--model': config.model,
    '--reward-source': config.rewardSource.startsWith('reward-model:') ? config.rewardSource.slice('reward-model:'.length) : undefined,
    '--prompts-file': config.promptsFile ?? undefined,
    '--chat-template': config.chatTemplate ?? undefined,
  };
  const { continuing } = claimRunFolder(config.out, { kind: 'train', intent: resume ? 'resume' : 'new', flag: resume ? '--resume' : '--out', reads });
  prepareRunFolder(config.out, 'train', continuing);
  return continuing;
}

export async function trainCommand(flags: TrainFlags): Promise<void> {
  const config = runConfig(flags);
  if (!fs.existsSync(path.join(config.model, 'config.json'))) {
    throw new InputError(`${config.model}: no config.json; --model must be an HF model folder (the default is models/default)`);
  }
  preflightChatFolder(config.model, config.chatTemplate ?? undefined); // before the run folder is claimed: a retry can reuse it
  const runtime = new Runtime({ threads: flags.threads });
  const base = runSettings(config, runtime, flags.threads);
  const remote = config.backend.startsWith('tinker:');
  const apiKey = flags.apiKey ?? process.env.TINKER_API_KEY ?? null;
  const settings = { ...base, periodicEval: periodicSolverEval(base), savedConfig: config, apiKey };
  await settings.reward?.probe?.(); // a remote judge that does not answer stops the run here, before anything is written
  if (remote) await probeService(settings); // so does a training service
  const continuing = claimTrainFolder(config, Boolean(flags.resume));
  // a new run has no checkpoint to choose first: its config goes in now, so a kill before the first one can resume
  if (!continuing) writeJsonAtomic(path.join(config.out, 'config.json'), config);
  const log = (s: string) => process.stderr.write(`${s}\n`);
  log(`${config.mode} on ${config.model}: ${config.iterations} iterations of N=${config.N} queries x G=${config.G} answers; run folder ${config.out}`);
  const model = await train(settings);
  await runtime.release();
  if (!model) {
    log(`stopped; the run is saved. Continue with: npx selfplay train --resume ${config.out}`);
    return;
  }
  log(`done. metrics: ${path.join(config.out, 'metrics.jsonl')}, samples: ${path.join(config.out, 'samples.jsonl')}`);
  if (remote) {
    log(`trained model: kept by the service at ${config.backend.slice('tinker:'.length)}; its paths (weights, sampler) are in ${model}`);
    return;
  }
  log(`trained model: ${model}`);
  log(`evaluate it against the base: npx selfplay eval --model ${model} --baseline ${config.model} --set world`);
}
