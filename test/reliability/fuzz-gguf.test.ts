/** Fuzz (fast-check) of GGUF export's reading of the model folder; cases: SELFPLAY_FUZZ_RUNS x its share. */
import { test } from 'node:test';
import { runsOf, runTarget } from './fuzz/common.ts';
import { ggufProperties } from './fuzz/gguf.ts';

test(`fuzz: GGUF export of corrupted model folders (${runsOf('gguf')} cases)`, async () => {
  console.log(`# fuzz gguf: ${await runTarget(ggufProperties, runsOf('gguf'))} cases`);
});
