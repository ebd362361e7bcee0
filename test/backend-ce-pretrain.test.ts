/**
 * Pretraining through the backend runs the graphs it always ran: for the batches of the default plans (from scratch
 * and continued), forwardBackwardCrossEntropy shares exactly the prefix the batch was built around (the challenger's
 * whole Box 1 prompt, the judge's Box 3 head) and runs solver batches on the plain graph. Same prefix, same padded
 * shapes, same weights: the same floats (a tiny run's model.safetensors is bit-identical; see test/pretrain.test.ts
 * for resume).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { crossEntropyPrefixLength } from '../src/backend/local-policy.ts';
import { CONTINUE_DEFAULTS, crossEntropyRows, makeWorldTokenizer, PRETRAIN_DEFAULTS } from '../src/train/pretrain.ts';
import { batchAt, type BatchPlan } from '../src/train/pretrain-data.ts';

const tok = makeWorldTokenizer(fs.mkdtempSync(path.join(os.tmpdir(), 'ce-pretrain-')));

test('pretraining batches as cross-entropy rows share exactly the prefix the batch was built with (solver: none)', () => {
  const seen = { solver: 0, challenger: 0, judge: 0 };
  for (const o of [PRETRAIN_DEFAULTS, CONTINUE_DEFAULTS]) {
    const plan: BatchPlan = { ...o, exclude: new Set(), judgeVerdictWeight: o.judgeVerdictWeight };
    // steps from both phases of the from-scratch run (solver-only first, the later mix after step 2800)
    for (const step of [0, 1, 1199, 1200, 1201, 1202, 1203, 1204, 1205, 1206, 2800, 2801, 2802, 2803, 2804, 2805]) {
      const batch = batchAt(plan, tok, step);
      const P = crossEntropyPrefixLength(crossEntropyRows(batch));
      assert.equal(P, batch.prefix.length, `step ${step} (${batch.role}): backend shares ${P} prompt tokens, the batch was built around ${batch.prefix.length}`);
      assert.equal(P > 0, batch.role !== 'solver', `step ${step}: ${batch.role} batches ${batch.role === 'solver' ? 'never share' : 'share'} a prefix`);
      seen[batch.role]++;
    }
  }
  assert.ok(seen.solver > 0 && seen.challenger > 0 && seen.judge > 0, `every role checked: ${JSON.stringify(seen)}`);
});
