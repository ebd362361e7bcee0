import assert from 'node:assert/strict';
import { test } from 'node:test';
import { crossEntropyRows, HARD_NOISE_WEIGHTS } from '../src/train/pretrain.ts';
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
  // as cross-entropy rows: the whole prompt (shared prefix + the row's own prompt), the completion weighted
  // 1/(completion tokens), the verdict token 8x that
  const rows = crossEntropyRows(batch);
  batch.rows.forEach((row, b) => {
    const P = batch.promptLengths[b];
    assert.deepEqual(rows[b].promptIds, [...batch.prefix, ...row.slice(0, P)]);
    assert.deepEqual(rows[b].tokens, row.slice(P));
    const at = batch.emphasis!.positions[b] - P;
    const base = 1 / batch.completionTokens;
    assert.ok(Math.abs(rows[b].weights[at] / (8 * base) - 1) < 1e-6, `row ${b}: ${rows[b].weights[at]} vs ${8 * base}`);
    const others = rows[b].weights.filter((_, k) => k !== at);
    assert.ok(others.every((v) => Math.abs(v / base - 1) < 1e-6));
  });
});
