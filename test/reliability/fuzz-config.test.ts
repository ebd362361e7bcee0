/** Fuzz (fast-check) of the train config loader and the config flags; cases: SELFPLAY_FUZZ_RUNS x its share. */
import { test } from 'node:test';
import { runsOf, runTarget } from './fuzz/common.ts';
import { configProperties } from './fuzz/config.ts';

test(`fuzz: config loader and flags (${runsOf('config')} cases)`, async () => {
  console.log(`# fuzz config: ${await runTarget(configProperties, runsOf('config'))} cases`);
});
