/**
 * Real tokenizers (Llama-3, Qwen3, Mistral's SentencePiece) in random-weight folders built by
 * scripts/make-real-model.ts: the chat templates render the formats their model cards document, the rendered text
 * encodes to the special ids (one BOS, no doubled specials), and generation stops on exactly the ids of
 * generation_config.json's eos list.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildRealModelFolder } from '../scripts/make-real-model.ts';
import { ChatModel } from '../src/generate/chat.ts';
import { Generator } from '../src/generate/generator.ts';
import { sampleTokenNaive, type SamplingParams } from '../src/generate/sampler.ts';
import { ModelEngine } from '../src/model/engine.ts';
import { loadModelFolder } from '../src/model/modelfolder.ts';
import { loadTokenizer, type ChatMessage } from '../src/model/tokenizer.ts';
import { Runtime } from '../src/runtime/runtime.ts';
import { Rng } from '../src/util/rng.ts';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'real-chat-'));
const runtime = new Runtime({ threads: 1 });
const dirs = { llama3: path.join(root, 'llama3'), qwen3: path.join(root, 'qwen3'), mistral: path.join(root, 'mistral') };
before(() => {
  for (const [tokenizer, out] of Object.entries(dirs)) buildRealModelFolder({ shape: 'tiny', tokenizer: tokenizer as keyof typeof dirs, out, seed: 1 });
});
after(async () => {
  await runtime.release();
  fs.rmSync(root, { recursive: true, force: true });
});

const CHAT: ChatMessage[] = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'Name a colour.' },
  { role: 'assistant', content: 'Blue.' },
  { role: 'user', content: 'Another?' },
];

test('Llama-3 template: header blocks, <|eot_id|> after each turn, one <|begin_of_text|>, assistant header last', () => {
  const tok = loadTokenizer(dirs.llama3);
  const h = (role: string) => `<|start_header_id|>${role}<|end_header_id|>\n\n`;
  const want =
    `<|begin_of_text|>${h('system')}You are terse.<|eot_id|>${h('user')}Name a colour.<|eot_id|>` +
    `${h('assistant')}Blue.<|eot_id|>${h('user')}Another?<|eot_id|>${h('assistant')}`;
  assert.equal(tok.applyChatTemplate(CHAT, { addGenerationPrompt: true }), want);
  // the Llama-3 template trims each turn's content
  assert.equal(
    tok.applyChatTemplate([{ role: 'user', content: '  hi \n' }], { addGenerationPrompt: true }),
    `<|begin_of_text|>${h('user')}hi<|eot_id|>${h('assistant')}`,
  );
  const ids = tok.encode(tok.applyChatTemplate([{ role: 'user', content: 'Hi there' }], { addGenerationPrompt: true }), { addSpecialTokens: false });
  // <|begin_of_text|> <|start_header_id|> user <|end_header_id|> \n\n Hi Ġthere <|eot_id|> <|start_header_id|> assistant <|end_header_id|> \n\n
  assert.deepEqual(ids, [128000, 128006, 882, 128007, 271, 13347, 1070, 128009, 128006, 78191, 128007, 271]);
});

test('Qwen3 template: ChatML turns, <|im_end|> newline, generation prompt only when asked, no default system prompt', () => {
  const tok = loadTokenizer(dirs.qwen3);
  const turn = (role: string, text: string) => `<|im_start|>${role}\n${text}<|im_end|>\n`;
  const body = turn('system', 'You are terse.') + turn('user', 'Name a colour.') + turn('assistant', 'Blue.') + turn('user', 'Another?');
  assert.equal(tok.applyChatTemplate(CHAT, { addGenerationPrompt: true }), `${body}<|im_start|>assistant\n`);
  assert.equal(tok.applyChatTemplate(CHAT, { addGenerationPrompt: false }), body);
  const ids = tok.encode(tok.applyChatTemplate([{ role: 'user', content: 'Hi there' }], { addGenerationPrompt: true }), { addSpecialTokens: false });
  // <|im_start|> user \n Hi Ġthere <|im_end|> \n <|im_start|> assistant \n
  assert.deepEqual(ids, [151644, 872, 198, 13048, 1052, 151645, 198, 151644, 77091, 198]);
});

test('Mistral (SentencePiece) template: <s>[INST] ... [/INST]answer</s> [INST] ... [/INST], system before the first user turn', () => {
  const tok = loadTokenizer(dirs.mistral);
  assert.equal(
    tok.applyChatTemplate(CHAT, { addGenerationPrompt: true }),
    '<s>[INST] You are terse.\n\nName a colour. [/INST]Blue.</s> [INST] Another? [/INST]',
  );
  const ids = tok.encode(tok.applyChatTemplate([{ role: 'user', content: 'Hi there' }], { addGenerationPrompt: true }), { addSpecialTokens: false });
  // <s> ▁[ INST ] ▁Hi ▁there ▁[ / INST ]: one BOS, SentencePiece's ▁ before each word
  assert.deepEqual(ids, [1, 733, 16289, 28793, 15359, 736, 733, 28748, 16289, 28793]);
  assert.equal(tok.decode(ids, { skipSpecialTokens: true }), '[INST] Hi there [/INST]');
});

/**
 * The tiny Llama-3 folder with weights that make `favoured` the greedy next token after any input: embedding column 0
 * is 1 for every id (so the final hidden state's coordinate 0 is large and positive) and 4 for `favoured`.
 */
function favouring(favoured: number): ChatModel {
  const folder = loadModelFolder(dirs.llama3);
  const emb = folder.weights.get('model.embed_tokens.weight')!; // [V, C], tied with the LM head
  const C = folder.cfg.hiddenSize;
  for (let v = 0; v < folder.cfg.vocabSize; v++) emb[v * C] = v === favoured ? 4 : 1;
  return new ChatModel(folder, new ModelEngine(folder.cfg, folder.weights, runtime, `favour-${favoured}`), folder.tokenizer!);
}

test('Llama-3 generation stops on each id of generation_config.json eos_token_id, and on nothing else', async () => {
  const gen = JSON.parse(fs.readFileSync(path.join(dirs.llama3, 'generation_config.json'), 'utf8')) as { eos_token_id: number[] };
  assert.deepEqual(gen.eos_token_id, [128001, 128008, 128009]);
  const greedy = { temperature: 0, topP: 1, topK: 0, maxTokens: 6 };
  for (const eos of gen.eos_token_id) {
    const model = favouring(eos);
    assert.deepEqual([...model.eosIds].sort(), gen.eos_token_id);
    const [c] = await model.complete(['Say something.'], greedy, 1);
    assert.deepEqual(c.tokens, [eos], `favouring ${eos}`);
    assert.equal(c.finishReason, 'eos');
    assert.equal(c.text, '');
    assert.equal(c.promptIds.filter((t) => t === 128000).length, 1, 'one <|begin_of_text|>');
  }
  // <|end_header_id|> is special but ends nothing: the row runs to its budget (so the test above can fail)
  const [c] = await favouring(128007).complete(['Say something.'], greedy, 1);
  assert.deepEqual(c.tokens, new Array(6).fill(128007));
  assert.equal(c.finishReason, 'length');
});

test('generation at V = 128,256: n = 3 rows, every sampling path draws what the naive sampler draws from the model', async () => {
  const folder = loadModelFolder(dirs.llama3);
  const engine = new ModelEngine(folder.cfg, folder.weights, runtime, 'llama3-sampling');
  const gen = new Generator(engine);
  const tok = folder.tokenizer!;
  const prompt = tok.encode(tok.applyChatTemplate([{ role: 'user', content: 'Count to three.' }], { addGenerationPrompt: true }), { addSpecialTokens: false });
  // the next-token log-probs after the prompt, by full recomputation (float64 log-softmax of the logits)
  const V = folder.cfg.vocabSize;
  const { logits } = await engine.logits([prompt]);
  const last = logits.subarray((prompt.length - 1) * V, prompt.length * V);
  let top = -Infinity;
  for (const x of last) top = Math.max(top, x);
  let z = 0;
  for (const x of last) z += Math.exp(x - top);
  const lp = Float32Array.from(last, (x) => x - top - Math.log(z));
  const paths: SamplingParams[] = [
    { temperature: 1, topK: 0, topP: 1 },
    { temperature: 0.7, topK: 40, topP: 1 },
    { temperature: 1, topK: 0, topP: 0.9 },
    { temperature: 1.2, topK: 100, topP: 0.8 },
  ];
  for (const p of paths) {
    const opts = { ...p, maxNewTokens: 3, seed: 11, eosIds: [] as number[] };
    const rows = await gen.generate([prompt, prompt, prompt], opts);
    const rng = new Rng(11); // rows draw in order from one stream
    const firstTokens = rows.map(() => sampleTokenNaive(lp, 0, V, p, rng));
    assert.deepEqual(rows.map((r) => r.tokens[0]), firstTokens, `first tokens, ${JSON.stringify(p)}`);
    assert.deepEqual(await gen.generate([prompt, prompt, prompt], opts), rows, 'same seed, same rows');
    for (const r of rows) {
      assert.equal(r.tokens.length, 3);
      assert.ok(r.logprobs.every((x) => Number.isFinite(x) && x <= 0));
    }
    assert.ok(Math.abs(rows[0].logprobs[0] - lp[rows[0].tokens[0]]) < 1e-4, 'reported log-prob is the model\'s (temperature 1)');
  }
});
