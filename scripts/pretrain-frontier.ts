/**
 * Stage 3 of the default model (world v4): `npx selfplay pretrain --init models/default`'s continued pretraining
 * with a solver-heavier role mix and a higher peak learning rate, so the new family (largest) and add are learnt, not
 * only judged. Run: `npx tsx scripts/pretrain-frontier.ts [out] [steps]`; continue an interrupted run with
 * `npx selfplay pretrain --resume <out>` (the options are saved in every checkpoint). The role mix is not a CLI flag
 * (src/train/pretrain.ts's CONTINUE_DEFAULTS are judge-heavy), hence this script.
 */
import { claimRunFolder, prepareRunFolder } from '../src/train/run-folder.ts';
import { CONTINUE_DEFAULTS, pretrain, type PretrainOptions } from '../src/train/pretrain.ts';

export const STAGE3: Omit<PretrainOptions, 'out'> = {
  ...CONTINUE_DEFAULTS,
  init: 'models/default',
  seed: 4,
  steps: 1000,
  // the solver learns a new family and add's units digit; the challenger and judge must know largest's templates
  mix: { solver: 0.4, challenger: 0.15, judge: 0.45 },
  lr: 2.5e-4,
  warmupSteps: 30,
};

const out = process.argv[2] ?? 'runs/pretrain-frontier';
const steps = process.argv[3] ? Number(process.argv[3]) : STAGE3.steps;
const { continuing } = claimRunFolder(out, { kind: 'pretrain', intent: 'new', flag: '--out', reads: { '--init': STAGE3.init } });
prepareRunFolder(out, 'pretrain', continuing);
process.stderr.write(`pretraining into ${out} (${steps} steps, seed ${STAGE3.seed}, continuing ${STAGE3.init}); --resume ${out} continues\n`);
const model = await pretrain({ ...STAGE3, out, steps, threads: 2 });
process.stderr.write(model ? `done: ${model}\n` : `stopped; continue with: npx selfplay pretrain --resume ${out}\n`);
