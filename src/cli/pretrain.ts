/** `selfplay pretrain`: flags -> PretrainOptions, then the run (see src/train/pretrain.ts). */
import fs from 'node:fs';
import path from 'node:path';
import { InputError } from '../errors.ts';
import { checkpointProblem, checkpointsNewestFirst } from '../train/checkpoint.ts';
import { claimRunFolder, prepareRunFolder } from '../train/run-folder.ts';
import { CONTINUE_DEFAULTS, PRETRAIN_DEFAULTS, pretrain, type PretrainOptions } from '../train/pretrain.ts';

export interface PretrainFlags {
  seed?: number;
  out?: string;
  resume?: string;
  steps?: number;
  threads?: number;
  quiet?: boolean;
  maxSteps?: number;
  init?: string;
}

/**
 * The options a resumed run was started with (saved in every checkpoint), so a resume cannot change the plan; read
 * from the newest checkpoint that verifies (the run resumes from that one or an older one with the same options).
 */
function savedOptions(dir: string): Partial<PretrainOptions> {
  const all = checkpointsNewestFirst(dir);
  if (all.length === 0) throw new InputError(`--resume ${dir}: no checkpoint yet, so nothing to resume; start the run again with --out ${dir}`);
  const last = all.find((c) => checkpointProblem(c) === null);
  if (!last) throw new InputError(`--resume ${dir}: no checkpoint verifies (${all.map((c) => `${path.basename(c)}: ${checkpointProblem(c)}`).join('; ')})`);
  const file = path.join(last, 'state.json');
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')).extra?.options ?? {};
  } catch (e) {
    throw new InputError(`${file}: cannot read (${(e as Error).message})`);
  }
}

export async function pretrainCommand(flags: PretrainFlags): Promise<void> {
  if (flags.resume && flags.out && path.resolve(flags.resume) !== path.resolve(flags.out)) {
    throw new InputError('--resume and --out name different folders; a resumed run continues in its own folder');
  }
  if (flags.resume && flags.init) throw new InputError('--resume and --init conflict: a resumed run already knows where it started');
  if (flags.init && !fs.existsSync(path.join(flags.init, 'config.json'))) throw new InputError(`--init ${flags.init}: no config.json there; give a model folder`);
  const fresh = flags.init ? { ...CONTINUE_DEFAULTS, init: flags.init } : PRETRAIN_DEFAULTS;
  const out = flags.resume ?? flags.out ?? `runs/pretrain-seed${flags.seed ?? fresh.seed}`;
  const { continuing } = claimRunFolder(out, { kind: 'pretrain', intent: flags.resume ? 'resume' : 'new', flag: flags.resume ? '--resume' : '--out', reads: { '--init': flags.init } });
  prepareRunFolder(out, 'pretrain', continuing);
  const base = flags.resume ? { ...PRETRAIN_DEFAULTS, ...savedOptions(flags.resume) } : fresh;
  const opts: PretrainOptions = {
    ...base,
    out,
    seed: flags.seed ?? base.seed,
    steps: flags.steps ?? base.steps,
    threads: flags.threads,
    quiet: flags.quiet,
    maxStepsThisRun: flags.maxSteps,
  };
  const from = opts.init ? `, continuing ${opts.init}` : '';
  process.stderr.write(`pretraining into ${out} (${opts.steps} steps, seed ${opts.seed}${from}); Ctrl-C saves a checkpoint, --resume ${out} continues\n`);
  const model = await pretrain(opts);
  if (model) process.stderr.write(`done: the model is in ${model}\nquality: npx selfplay eval --model ${model} --world-quality\n`);
  else process.stderr.write(`stopped; continue with: npx selfplay pretrain --resume ${out}\n`);
}
