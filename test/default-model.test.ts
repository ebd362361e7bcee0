/**
 * The shipped default model (models/default) loads through the ordinary HF-folder loader and plays its roles:
 * the solver answers an easy held-out instruction, the challenger's output parses, the judge writes a <Score>.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { fillChallengerPrompt, fillJudgePrompt, parseJudgeScore } from '../src/prompts/paper.ts';
import { ChatModel } from '../src/generate/chat.ts';
import { loadModelFolder } from '../src/model/modelfolder.ts';
import { Runtime } from '../src/runtime/runtime.ts';
import { classify } from '../src/world/world.ts';

const DIR = path.join(import.meta.dirname, '..', 'models', 'default');
const greedy = { temperature: 0, topP: 1, topK: 0, maxTokens: 40 };

test('models/default: an ordinary HF folder (config, safetensors, tokenizer with chat template, generation config)', () => {
  const f = loadModelFolder(DIR);
  assert.equal(f.cfg.architecture, 'LlamaForCausalLM');
  assert.ok(f.tokenizer, 'tokenizer loads');
  assert.ok(f.generationConfig, 'generation_config.json loads');
  const params = [...f.weights.values()].reduce((a, w) => a + w.length, 0);
  assert.ok(params > 1e6 && params < 2e7, `${params} parameters`);
});

test('models/default: solver, challenger and judge outputs have the right form (greedy)', async () => {
  const runtime = new Runtime({ threads: 1 });
  const m = ChatModel.load(DIR, runtime);
  const [answer] = await m.complete(['Reverse the word: kamo'], greedy, 1);
  assert.equal(answer.text.trim(), 'omak', `solver answered ${JSON.stringify(answer.text)}`);
  const [query] = await m.complete([fillChallengerPrompt('add two numbers', 'What is {a} plus {b}?')], greedy, 1);
  assert.ok(classify(query.text.trim()).valid, `challenger wrote ${JSON.stringify(query.text)}`);
  const [judgement] = await m.complete([fillJudgePrompt('Reverse the word: kamo', 'omak')], { ...greedy, maxTokens: 128 }, 1);
  assert.notEqual(parseJudgeScore(judgement.text).score, null, `judge wrote ${JSON.stringify(judgement.text)}`);
  await runtime.release();
});
