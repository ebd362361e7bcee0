/**
 * LSP end to end on a real-shaped model: the SmolLM2-135M body (30 layers, hidden 576) with the real Llama-3 tokenizer
 * (vocabulary 128,256; 180M parameters), random weights built by scripts/make-real-model.ts. Two iterations with LoRA
 * and small N, G and token budgets: every prompt (Box 1 challenger, solver, Box 3 judge) goes through the Llama-3 chat
 * template, generation stops on generation_config.json's eos ids, the adapters move, and the run folder is complete.
 * The slowest test of the suite: about 75 s of CPU (user + system, 2 threads) and a peak RSS of about 7 GB.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildRealModelFolder } from '../scripts/make-real-model.ts';
import { runSettings } from '../src/train/settings.ts';
import type { RewardSource } from '../src/game/rollout.ts';
import { ChatModel, type Completion } from '../src/generate/chat.ts';
import { readSafetensors } from '../src/model/safetensors.ts';
import { loadTokenizer } from '../src/model/tokenizer.ts';
import { resolveConfig } from '../src/rl/config.ts';
import { Runtime } from '../src/runtime/runtime.ts';
import { train } from '../src/train/lsp.ts';
import { readJsonl } from '../src/train/run-folder.ts';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'real-lsp-'));
const model = path.join(root, 'smollm2-135m-llama3');
before(() => {
  const built = buildRealModelFolder({ shape: 'smollm2-135m', tokenizer: 'llama3', out: model, dtype: 'bf16', seed: 1 });
  assert.equal(built.params, 134_515_008 + (128256 - 49152) * 576); // SmolLM2-135M with the 128,256-row embedding
});
after(() => fs.rmSync(root, { recursive: true, force: true }));

/** A reward with spread on any text, so the advantages (and the update) are not all zero on a random model. */
const lengthReward: RewardSource = {
  name: 'length',
  score: async (_q, answers_N_G) => answers_N_G.map((g) => g.map((a) => (a.length % 5) / 4)),
};

/** Every completion the run asks for, with the eos ids it stopped on (ChatModel.completeWith wrapped, then restored). */
function recordCompletions(): { calls: { eosIds: number[]; out: Completion[] }[]; restore: () => void } {
  const calls: { eosIds: number[]; out: Completion[] }[] = [];
  // completeWith: where every completion is rendered and decoded (the loop samples through its backend)
  const original = ChatModel.prototype.completeWith;
  ChatModel.prototype.completeWith = async function (this: ChatModel, ...args: Parameters<ChatModel['completeWith']>) {
    const out = await original.apply(this, args);
    calls.push({ eosIds: this.eosIds, out });
    return out;
  };
  return { calls, restore: () => (ChatModel.prototype.completeWith = original) };
}

const BOS = 128000;
const USER_HEADER = [128006, 882, 128007, 271]; // <|start_header_id|> user <|end_header_id|> \n\n
const ASSISTANT_HEADER = [128006, 78191, 128007, 271]; // <|start_header_id|> assistant <|end_header_id|> \n\n
const EOS = [128001, 128008, 128009];

// ~1 min on a quiet 2-core machine; a shared one can take 5x that, so this test gets more than the suite's default timeout.
test('LSP on the SmolLM2-135M shape with the Llama-3 tokenizer: 2 iterations, chat-templated prompts, right stop ids', { timeout: 20 * 60_000 }, async () => {
  const out = path.join(root, 'run');
  const config = resolveConfig(
    {
      model, out, iterations: 2, N: 2, G: 2, lr: 1e-3, quiet: true, seed: 3,
      lora: { rank: 4, alpha: 8, targets: ['q_proj', 'v_proj'] },
      sampling: { challenger: { maxTokens: 8 }, solver: { maxTokens: 8 }, judge: { maxTokens: 8 } },
    },
    {},
  );
  const { calls, restore } = recordCompletions();
  const t0 = Date.now();
  try {
    const done = await train({ ...runSettings(config, new Runtime({ threads: 2 }), 2), reward: lengthReward });
    assert.equal(done, path.join(out, 'model'));
  } finally {
    restore();
  }
  console.log(`  2 LSP iterations on the 135M shape: ${((Date.now() - t0) / 1000).toFixed(1)} s wall, peak RSS so far ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`);

  const completions = calls.flatMap((c) => c.out);
  for (const c of calls) assert.deepEqual([...c.eosIds].sort(), EOS, 'stop ids = generation_config.json eos_token_id');
  for (const c of completions) {
    const p = c.promptIds;
    assert.deepEqual(p.slice(0, 5), [BOS, ...USER_HEADER], 'prompt opens with <|begin_of_text|> and a user header');
    assert.deepEqual(p.slice(-4), ASSISTANT_HEADER, 'prompt ends with the assistant header');
    assert.equal(p.filter((t) => t === BOS).length, 1, 'one <|begin_of_text|>');
    const stop = c.tokens.findIndex((t) => EOS.includes(t));
    assert.ok(stop === -1 || (stop === c.tokens.length - 1 && c.finishReason === 'eos'), 'generation ends at the first eos id');
    assert.ok(c.tokens.every((t) => t < 128256));
  }
  // challenger (Box 1), solver and judge (Box 3): 2 iterations x (N + N*G + N*G) completions
  assert.equal(completions.length, 2 * (2 + 4 + 4));
  assert.deepEqual(calls.map((c) => c.out.length), [2, 4, 4, 2, 4, 4], 'challenger, solver, judge batches per iteration');
  const tok = loadTokenizer(model);
  const promptText = (i: number) => tok.decode(calls[i].out[0].promptIds);
  assert.match(promptText(0), /Generate an input for the language task/, 'challenger: Box 1');
  assert.match(promptText(2), /Review the user-assistant interaction/, 'judge: Box 3');

  const metrics = readJsonl(path.join(out, 'metrics.jsonl'));
  assert.equal(metrics.length, 2);
  for (const m of metrics) {
    for (const k of ['loss/solver', 'loss/challenger', 'grad_norm', 'kl/solver', 'time/train', 'time/judge']) assert.ok(Number.isFinite(m[k]), `${k} = ${m[k]}`);
    assert.ok((m['sampling/logp_diff'] as number) <= 1e-3, `sampler vs train log-probs differ by ${m['sampling/logp_diff']}`);
  }
  const adapter = readSafetensors(path.join(out, 'adapter', 'adapter_model.safetensors')).tensors;
  const moved = [...adapter].filter(([n, t]) => n.includes('lora_B') && (t.data as Float32Array).some((x) => x !== 0));
  assert.ok(moved.length > 0, 'no LoRA B matrix moved from its zero init');
  assert.ok(fs.existsSync(path.join(out, 'model', 'model.safetensors')));
});
