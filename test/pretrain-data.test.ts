import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HARD_NOISE_WEIGHTS, tokenWeights } from '../src/train/pretrain.ts';
import { batchAt, verdictTokenIndex, type BatchPlan } from '../src/train/pretrain-data.ts';
import { makeWorldTokenizer } from '../src/train/pretrain.ts';
import { CRITERION_PHRASES } from '../src/world/phrases.ts';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const tok = makeWorldTokenizer(fs.mkdtempSync(path.join(os.tmpdir(), 'pretrain-data-')));
const judgePlan = (judgeVerdictWeight?: number): BatchPlan => ({
  seed: 4,
  solverOnlySteps: 0,
  mix: { solver: 0, challenger: 0, judge: 1 },
  batchSize: { solver: 4, challenger: 4, judge: 6 },
  exclude: new Set(),
  noiseKindWeights: HARD_NOISE_WEIGHTS,
  judgeVerdictWeight,
});

test('verdictTokenIndex points at the judge verdict on the instruction ("well" formed or "malformed")', () => {
  const [malformed, wellFormed] = CRITERION_PHRASES[1];
  for (const [text, word] of [
    [`Task: add. ${wellFormed} Expected: 7. Response readable.`, ' well'],
    [`Task unclear. ${malformed} Response empty.`, ' malformed'],
  ] as const) {
    const ids = tok.encode(text);
    const k = verdictTokenIndex(tok, text);
    assert.equal(tok.decode([ids[k]]), word, text);
  }
  assert.equal(verdictTokenIndex(tok, 'no verdict here'), -1);
});

test('judge batches emphasise the verdict token of every row, and only with a weight other than 1', () => {
  const plain = batchAt(judgePlan(), tok, 0);
  assert.equal(plain.emphasis, undefined);
  const batch = batchAt(judgePlan(8), tok, 0);
  assert.deepEqual(batch.rows, plain.rows, 'emphasis changes no token');
  assert.equal(batch.emphasis!.weight, 8);
  batch.rows.forEach((row, b) => {
    const at = batch.emphasis!.positions[b];
    assert.ok(at >= batch.promptLengths[b], 'the verdict is a completion token');
    assert.match(tok.decode([row[at]]), /^ (well|malformed)$/);
  });
  // shared-prefix rows: weight entry t is row token t; the emphasised entry is 8x the others
  const width = Math.max(...batch.rows.map((r) => r.length));
  const w = tokenWeights(batch, batch.rows.length, width, false);
  batch.rows.forEach((row, b) => {
    const at = batch.emphasis!.positions[b];
    const base = 1 / batch.completionTokens;
    assert.ok(Math.abs(w[b * width + at] / (8 * base) - 1) < 1e-6, `row ${b}: ${w[b * width + at]} vs ${8 * base}`);
    assert.equal(w[b * width + batch.promptLengths[b] - 1], 0, 'no weight on prompt tokens');
    const others = [...w.slice(b * width + batch.promptLengths[b], b * width + row.length)].filter((_, j) => j + batch.promptLengths[b] !== at);
    assert.ok(others.every((v) => Math.abs(v / base - 1) < 1e-6));
  });
});
