/** `selfplay eval --world-quality`: the default model's three roles measured against its quality bar. */
import path from 'node:path';
import { InputError } from '../errors.ts';
import { FRONTIER_K, FRONTIER_PER_LEVEL } from '../eval/world-frontier.ts';
import { qualityTable, worldQuality } from '../eval/world-quality.ts';
import { ChatModel } from '../generate/chat.ts';
import { Runtime } from '../runtime/runtime.ts';
import { claimRunFolder, markRunFolder, writeFileAtomic, writeJsonAtomic } from '../train/run-folder.ts';
import { probeWritable } from '../util/fs.ts';

export interface WorldQualityFlags {
  model?: string;
  seed?: number;
  out?: string;
  threads?: number;
  quiet?: boolean;
  challengerSamples?: number;
  judgeSamples?: number;
}

export async function worldQualityCommand(flags: WorldQualityFlags): Promise<void> {
  const model = flags.model ?? 'models/default';
  if (flags.out) {
    // checked before a minute of compute: a new folder or an evaluation folder, never the model's, and writable
    claimRunFolder(flags.out, { kind: 'eval', intent: 'either', flag: '--out', reads: { '--model': model } });
    probeWritable(flags.out);
    markRunFolder(flags.out, 'eval');
  }
  const runtime = new Runtime({ threads: flags.threads });
  const chat = ChatModel.load(model, runtime);
  if (!chat.tokenizer.tokenToId('<|im_end|>')) throw new InputError(`${model}: not a world model (no <|im_end|> token); --world-quality measures the embedded world's roles`);
  const q = await worldQuality(chat, {
    challengerPerFamily: flags.challengerSamples ?? 120,
    judgeSamples: flags.judgeSamples ?? 400,
    seed: flags.seed ?? 1,
    frontier: { perLevel: FRONTIER_PER_LEVEL, k: FRONTIER_K, seed: flags.seed ?? 1 },
    quiet: flags.quiet,
  });
  await runtime.release();
  const table = qualityTable(q);
  process.stdout.write(`${table}\n`);
  if (flags.out) {
    writeJsonAtomic(path.join(flags.out, 'world-quality.json'), q);
    writeFileAtomic(path.join(flags.out, 'world-quality.md'), `${table}\n`);
    process.stderr.write(`wrote ${path.join(flags.out, 'world-quality.json')} and world-quality.md\n`);
  }
}
