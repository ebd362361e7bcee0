/**
 * Reward models (LlamaForSequenceClassification) against the PyTorch fixture test/fixtures/llama-reward, made by
 * scripts/make_reward_fixture.py: HF's score head on the last non-pad token, computed in float64.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { InputError, ModelFormatError } from '../src/errors.ts';
import { RewardModel } from '../src/model/reward-model.ts';
import { readSafetensors } from '../src/model/safetensors.ts';
import { Runtime } from '../src/runtime/runtime.ts';
import { expectClose } from './helpers/compare.ts';
import { writeWorldTokenizer } from './helpers/chat-folder.ts';

const FIXTURE = path.join(import.meta.dirname, 'fixtures', 'llama-reward');
const runtime = new Runtime({ threads: 2 });
after(() => runtime.release());

/** The fixture with the world tokenizer (ChatML template) added, as a reward model folder on disk. */
function rewardFolder(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reward-'));
  fs.cpSync(FIXTURE, dir, { recursive: true });
  fs.rmSync(path.join(dir, 'expected.safetensors'));
  writeWorldTokenizer(dir);
  return dir;
}
const model = RewardModel.load(rewardFolder(), runtime);

/** The fixture's rows without their padding, and the reference rewards [B][L]. */
function fixtureRows(): { rows: number[][]; rewards: number[][] } {
  const t = readSafetensors(path.join(FIXTURE, 'expected.safetensors')).tensors;
  const [B, T] = t.get('input_ids')!.shape;
  const L = t.get('rewards')!.shape[1];
  const ids = t.get('input_ids')!.data;
  const mask = t.get('attention_mask')!.data;
  const rows: number[][] = [];
  const rewards: number[][] = [];
  for (let b = 0; b < B; b++) {
    const row: number[] = [];
    for (let i = 0; i < T; i++) if (Number(mask[b * T + i])) row.push(Number(ids[b * T + i]));
    rows.push(row);
    rewards.push([...(t.get('rewards')!.data as Float32Array).subarray(b * L, (b + 1) * L)]);
  }
  return { rows, rewards };
}

test('rewards of rows of different lengths in one padded batch match PyTorch (every label)', async () => {
  const { rows, rewards } = fixtureRows();
  console.log(`  row lengths ${rows.map((r) => r.length).join(', ')}`);
  const got = await model.scoreIds(rows);
  expectClose('rewards [B, L], one batch', got.flat(), rewards.flat(), 1e-4);
  for (let b = 0; b < rows.length; b++) expectClose(`row ${b} alone`, (await model.scoreIds([rows[b]]))[0], rewards[b], 1e-4);
});

test('more rows than a micro-batch, in mixed order: each row keeps its reward', async () => {
  const { rows, rewards } = fixtureRows();
  const order = Array.from({ length: 21 }, (_, i) => (i * 3) % rows.length);
  const got = await model.scoreIds(order.map((i) => rows[i]));
  expectClose('rewards over 2 micro-batches', got.flat(), order.flatMap((i) => rewards[i]), 1e-4);
});

test('score(pairs): the chat template renders [user, assistant]; batched rewards equal one-by-one rewards', async () => {
  const pairs = [
    { prompt: 'Reverse the word cat.', response: 'tac' },
    { prompt: 'Sort these numbers: 3, 1, 2', response: 'Sure! The numbers in ascending order are 1, 2, 3.' },
    { prompt: 'hi', response: '' },
  ];
  const text = model.tokenizer.decode(model.pairIds(pairs[0]));
  assert.equal(text, '<|im_start|>user\nReverse the word cat.<|im_end|>\n<|im_start|>assistant\ntac<|im_end|>\n');
  const batched = await model.score(pairs);
  const alone = [];
  for (const p of pairs) alone.push((await model.scoreIds([model.pairIds(p)]))[0][0]);
  expectClose('score(pairs) vs one pair at a time', batched, alone, 1e-5);
  assert.ok(new Set(batched.map((x) => x.toFixed(4))).size === 3, 'different pairs should get different rewards');
});

test('bad folders and inputs give errors naming the file or sequence', async () => {
  assert.throws(() => RewardModel.load(path.join(import.meta.dirname, 'fixtures', 'llama-gqa'), runtime), (e: Error) =>
    e instanceof ModelFormatError && /llama-gqa\/config\.json: field `architectures`: a reward model must be LlamaForSequenceClassification/.test(e.message));
  assert.throws(() => RewardModel.load(FIXTURE, runtime), /llama-reward: no tokenizer\.json/);
  await assert.rejects(model.scoreIds([[1, 2], []]), /reward: sequence 1 is empty/);
  await assert.rejects(model.scoreIds([[1, 999]]), InputError);
  await assert.rejects(model.scoreIds([new Array(200).fill(5)]), /sequence 0 has 200 tokens, more than the model's 128 positions/);
});
