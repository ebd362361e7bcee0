/** Fuzz (fast-check) of the HTTP request schema of `selfplay serve`; cases: SELFPLAY_FUZZ_RUNS x its share. */
import { test } from 'node:test';
import { runsOf, runTarget } from './fuzz/common.ts';
import { httpProperties } from './fuzz/http.ts';

test(`fuzz: HTTP request schema (${runsOf('http')} cases)`, async () => {
  console.log(`# fuzz http: ${await runTarget(httpProperties, runsOf('http'))} cases`);
});
