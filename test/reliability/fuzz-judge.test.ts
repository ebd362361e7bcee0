/** Fuzz (fast-check) of the judge-score parsers (self-reward <Score>, pairwise verdict); cases: SELFPLAY_FUZZ_RUNS x its share. */
import { test } from 'node:test';
import { runsOf, runTarget } from './fuzz/common.ts';
import { judgeProperties } from './fuzz/judge.ts';

test(`fuzz: judge-score parsers (${runsOf('judge')} cases)`, async () => {
  console.log(`# fuzz judge: ${await runTarget(judgeProperties, runsOf('judge'))} cases`);
});
