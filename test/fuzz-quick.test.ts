/**
 * The fuzz suite of test/reliability/fuzz-*.test.ts in small: SELFPLAY_FUZZ_QUICK_RUNS (default 200) cases per
 * parser, so that `npm test` catches a parser that crashes on odd input. The full 100,000 cases run in
 * `npm run test:reliability`.
 */
import { test } from 'node:test';
import { chatProperties } from './reliability/fuzz/chat.ts';
import { runTarget, type FuzzProperty } from './reliability/fuzz/common.ts';
import { configProperties } from './reliability/fuzz/config.ts';
import { ggufProperties } from './reliability/fuzz/gguf.ts';
import { httpProperties } from './reliability/fuzz/http.ts';
import { judgeProperties } from './reliability/fuzz/judge.ts';
import { safetensorsProperties } from './reliability/fuzz/safetensors.ts';

const RUNS = Number(process.env.SELFPLAY_FUZZ_QUICK_RUNS ?? 200);
const targets: [string, FuzzProperty[], number][] = [
  ['HTTP request schema', httpProperties, RUNS],
  ['judge-score parsers', judgeProperties, RUNS],
  ['config loader and flags', configProperties, RUNS],
  ['safetensors header', safetensorsProperties, RUNS],
  ['chat templates', chatProperties, RUNS],
  ['GGUF export of corrupted folders', ggufProperties, Math.ceil(RUNS / 4)], // 50 ms a case
];

for (const [name, properties, runs] of targets) {
  test(`fuzz (quick): ${name}, ${runs} cases: a value meeting the contract or a typed one-line error`, async () => {
    await runTarget(properties, runs);
  });
}
