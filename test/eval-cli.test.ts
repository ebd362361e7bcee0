/** `selfplay eval` pieces that need no model: --limit, the markdown report, and one-line argument errors. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { limitPrompts } from '../src/cli/eval.ts';
import type { EvalReport } from '../src/eval/pairwise.ts';
import { markdownReport } from '../src/eval/report.ts';
import { summarize } from '../src/eval/stats.ts';

const root = path.join(import.meta.dirname, '..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'selfplay-eval-cli-'));

test('--limit takes instructions round-robin across subsets, in file order', () => {
  const prompts = ['a1', 'a2', 'a3', 'b1', 'c1', 'c2'].map((id) => ({ id, instruction: id, subset: id[0] }));
  assert.deepEqual(limitPrompts(prompts, 4).map((p) => p.id), ['a1', 'b1', 'c1', 'a2']);
  assert.deepEqual(limitPrompts(prompts, 6).map((p) => p.id), prompts.map((p) => p.id));
  assert.equal(limitPrompts(prompts, undefined).length, 6);
});

test('markdown report: a row per subset and overall, rates in percent with intervals', () => {
  const judged = [1, 1, 0.5, 0].map((preference, i) => ({ subset: i < 2 ? 'x' : 'y', preference: preference as 0 | 0.5 | 1, modelLength: 10, baselineLength: 20 }));
  const report: EvalReport = {
    model: 'm', baseline: 'b', judge: { name: 'verifier', counters: {} }, generation: { temperature: 0.01, maxTokens: 8, seed: 1 },
    ...summarize(judged, { resamples: 100 }), items: [],
  };
  const md = markdownReport(report, 'world');
  assert.match(md, /^## m vs b/);
  assert.match(md, /\| x \| 2 \| 100\.0 \| \[100\.0, 100\.0\] \|/);
  assert.match(md, /\| y \| 2 \| 25\.0 \|/);
  assert.match(md, /\| \*\*overall\*\* \| 4 \| 62\.5 \| \[\d+\.\d, \d+\.\d\] \| [\d.]+ \| .* \| 2 \/ 1 \/ 1 \| 10 \| 20 \|/);
});

function selfplay(...args: string[]) {
  const r = spawnSync(process.execPath, [path.join(root, 'bin', 'selfplay.js'), ...args], { encoding: 'utf8' });
  return { code: r.status, stderr: r.stderr };
}

test('eval argument errors are one line naming the flag or file', () => {
  const set = path.join(tmp, 'set.jsonl');
  fs.writeFileSync(set, '{"instruction": "hi"}\n');
  const cases: [string[], RegExp][] = [
    [['--baseline', 'b', '--set', 'world'], /error: eval: --model is required/],
    [['--model', 'a', '--baseline', 'b', '--set', set], /error: --judge is required for a set other than world/],
    [['--model', 'a', '--baseline', 'b', '--set', set, '--judge', 'verifier'], /error: --judge verifier judges only --set world/],
    [['--model', 'a', '--baseline', 'b', '--set', path.join(tmp, 'nope.json'), '--judge', 'openai:http://x'], /nope\.json: cannot read \(ENOENT\)/],
    [['--model', path.join(tmp, 'no-model'), '--baseline', 'b', '--set', 'world', '--out', path.join(tmp, 'o')], /error: .*no-model/],
    [['--model', 'a', '--baseline', 'b', '--set', 'world', '--limit', '0'], /error: --limit: expected a positive integer, got "0"/],
  ];
  for (const [args, message] of cases) {
    const r = selfplay('eval', ...args);
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
});
