/** Fuzz (fast-check) of the safetensors header parser and reader; cases: SELFPLAY_FUZZ_RUNS x its share. */
import { test } from 'node:test';
import { runsOf, runTarget } from './fuzz/common.ts';
import { safetensorsProperties } from './fuzz/safetensors.ts';

test(`fuzz: safetensors header (${runsOf('safetensors')} cases)`, async () => {
  console.log(`# fuzz safetensors: ${await runTarget(safetensorsProperties, runsOf('safetensors'))} cases`);
});
