import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ModelFormatError } from '../src/errors.ts';
import { loadTokenizer, type Tokenizer } from '../src/model/tokenizer.ts';
import { Rng } from '../src/util/rng.ts';
import { trainWorldTokenizer, writeTokenizerFiles, type WorldTokenizer } from '../src/world/tokenizer-train.ts';

// Parts of the paper's Box 1 (challenger) and Box 3 (self-reward) prompts, verbatim.
const BOX1 = `Background
Language tasks take form of a tuple (input, output). Given an input, the language agent produces an output that addresses the request posed by the input. For example, in a question answering task, the input is a question, and the output is an answer to the question.

Request
Generate an input for the language task '{task}' that will be passed to another language agent. That is, your response to this prompt MUST be a valid input for the language task. The input can be easy, intermediate, hard, or simply noisy. It should stress-test the agent or push it think outside of the box. Note that in this run you will generate ONLY a single example.
[Start Generation] '{template}' [End Generation]`;

const BOX3 = `Review the user-assistant interaction (user's instruction and the corresponding response) and score it using the additive 7-point integer scoring system described below. The base score is 0.
1. +1 iff the user's task is clearly identifiable from the instruction.
<Instruction>{instruction}</Instruction>
<Response>{response}</Response>
- Write down the calculation adding up all individual points between <Calculation> and </Calculation> tags (e.g. <Calculation>1+0+1+0+1+1+0=4</Calculation>). The result is the total score. MAKE SURE THE CALCULATION IS CORRECT!
- Conclude with the total score value, from 0 to 7, between <Score> and </Score> tags (e.g. <Score>4</Score>). THE CORRECT FORMAT IS CRUCIAL!`;

/** A corpus of world-like instances: the template words repeat, the content is random letters and digits. */
function corpus(rng: Rng): string[] {
  const texts: string[] = [];
  const word = () => Array.from({ length: rng.int(3, 8) }, () => String.fromCharCode(97 + rng.int(0, 25))).join('');
  for (let i = 0; i < 200; i++) {
    texts.push(`Reverse the word ${word()}.`);
    texts.push(`Sort these numbers in ascending order: ${rng.int(0, 999)}, ${rng.int(0, 999)}, ${rng.int(0, 999)}`);
    texts.push(`How many times does the letter ${word()[0]} appear in ${word()}?`);
  }
  return texts;
}

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'tok-test-'));
}

let cached: { dir: string; trained: WorldTokenizer; tok: Tokenizer } | undefined;
function worldTokenizer() {
  if (!cached) {
    const trained = trainWorldTokenizer(corpus(new Rng(1)), { fixedTexts: [BOX1, BOX3], minCount: 20 });
    const dir = tmpDir();
    writeTokenizerFiles(dir, trained);
    cached = { dir, trained, tok: loadTokenizer(dir) };
  }
  return cached;
}

const tokensOf = (tok: Tokenizer, text: string) => tok.encode(text, { addSpecialTokens: false }).map((id) => tok.idToToken(id));

test('world tokenizer: vocabulary size, special tokens, files', () => {
  const { dir, trained, tok } = worldTokenizer();
  console.log(`world tokenizer: ${trained.words.length} known words, vocabSize ${tok.vocabSize}`);
  assert.ok(tok.vocabSize >= 300 && tok.vocabSize <= 1000, `vocabSize ${tok.vocabSize}`);
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json']) assert.ok(fs.existsSync(path.join(dir, f)));
  assert.deepEqual(fs.readdirSync(dir).filter((f) => f.includes('.tmp-')), []);
  assert.equal(tok.padId, tok.tokenToId('<|pad|>'));
  assert.equal(tok.bosId, tok.tokenToId('<|bos|>'));
  assert.deepEqual(tok.eosIds, [tok.tokenToId('<|im_end|>')]);
  for (const s of ['<|pad|>', '<|bos|>', '<|eos|>', '<|im_start|>', '<|im_end|>']) {
    assert.deepEqual(tokensOf(tok, `a${s}b`), ['a', s, 'b']);
  }
  // Words from the corpus above minCount are in; random content is not.
  assert.ok(trained.words.includes('Reverse') && trained.words.includes('numbers'));
  assert.ok(trained.words.includes('Calculation') && trained.words.includes('assistant'));
  // Deterministic: same inputs, same files.
  const again = trainWorldTokenizer(corpus(new Rng(1)), { fixedTexts: [BOX1, BOX3], minCount: 20 });
  assert.equal(JSON.stringify(again), JSON.stringify(trained));
});

test('world tokenizer: exact round trip on prompts, random letters, digits, punctuation, newlines, non-ASCII', () => {
  const { tok } = worldTokenizer();
  const rng = new Rng(7);
  const printable = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join('') + '\n\t';
  const samples = [BOX1, BOX3, '', ' ', '\n\n', '  the  task  ', 'the\nthe\tthe', '4821 + 17 = 4838', 'e.g. (a, b)!?', "user's"];
  samples.push('héllo wörld ✓ 😀 \r\n \u0000 \u007f', '<|im_start|>user\nhi<|im_end|>', '<|im_end', '{task} {template}');
  for (let i = 0; i < 300; i++) {
    const n = rng.int(1, 40);
    samples.push(Array.from({ length: n }, () => printable[rng.int(0, printable.length - 1)]).join(''));
    samples.push(Array.from({ length: n }, () => String.fromCharCode(97 + rng.int(0, 25))).join(''));
    samples.push(String(rng.int(0, 1e9)));
  }
  let maxTokens = 0;
  for (const s of samples) {
    const ids = tok.encode(s, { addSpecialTokens: false });
    assert.equal(tok.decode(ids), s, `round trip of ${JSON.stringify(s)}`);
    assert.deepEqual(tok.encode(s), ids, 'no special tokens are added by default (no post-processor)');
    maxTokens = Math.max(maxTokens, ids.length);
  }
  const box1 = tok.encode(BOX1, { addSpecialTokens: false }).length;
  console.log(`round trip ok on ${samples.length} strings; Box 1 excerpt: ${BOX1.length} chars -> ${box1} tokens`);
});

test('world tokenizer: every known word is one token, bare or after a space, in any punctuation context', () => {
  const { tok, trained } = worldTokenizer();
  for (const w of trained.words) {
    assert.deepEqual(tokensOf(tok, w), [w]);
    assert.deepEqual(tokensOf(tok, ` ${w}`), [` ${w}`]);
    assert.deepEqual(tokensOf(tok, `(${w}).`), ['(', w, ')', '.']);
    assert.deepEqual(tokensOf(tok, `'${w}'\n${w}`), ["'", w, "'", '\n', w]);
  }
  assert.deepEqual(tokensOf(tok, 'the input'), ['the', ' input']);
});

test('world tokenizer: unknown words are one token per character, even when they contain a known word', () => {
  const { tok, trained } = worldTokenizer();
  for (const w of ['lokex', 'thenx', 'xthe', 'inputs', 'Theinput', 'ThE', 'taskk', '4821', 'ab12cd']) {
    assert.ok(!trained.words.includes(w), w);
    assert.deepEqual(tokensOf(tok, w), [...w], w);
    assert.deepEqual(tokensOf(tok, ` ${w}`), [' ', ...w], w);
  }
  assert.deepEqual(tokensOf(tok, 'the lokex'), ['the', ' ', 'l', 'o', 'k', 'e', 'x']);
  assert.deepEqual(tokensOf(tok, 'é'), ['<0xC3>', '<0xA9>']);
});

test('world tokenizer: chat template renders ChatML', () => {
  const { tok } = worldTokenizer();
  const messages = [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'Reverse the word lokex.' },
  ];
  const prompt = tok.applyChatTemplate(messages, { addGenerationPrompt: true });
  const want = '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nReverse the word lokex.<|im_end|>\n<|im_start|>assistant\n';
  assert.equal(prompt, want);
  assert.equal(
    tok.applyChatTemplate(messages.slice(1), { addGenerationPrompt: false }),
    '<|im_start|>user\nReverse the word lokex.<|im_end|>\n',
  );
  const ids = tok.encode(prompt, { addSpecialTokens: false });
  assert.deepEqual(ids.slice(0, 3), [tok.tokenToId('<|im_start|>'), tok.tokenToId('system'), tok.tokenToId('\n')]);
  assert.equal(tok.decode(ids), prompt);
  assert.equal(tok.decode(ids, { skipSpecialTokens: true }), 'system\nBe brief.\nuser\nReverse the word lokex.\nassistant\n');
});

function folderWith(files: Record<string, string>): string {
  const dir = tmpDir();
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  return dir;
}

function worldFiles(configPatch: Record<string, unknown> = {}): Record<string, string> {
  const { trained } = worldTokenizer();
  return {
    'tokenizer.json': JSON.stringify(trained.tokenizerJson),
    'tokenizer_config.json': JSON.stringify({ ...trained.tokenizerConfig, ...configPatch }),
  };
}

test('loadTokenizer: a missing or bad tokenizer.json is a ModelFormatError naming the file', () => {
  const missing = tmpDir();
  assert.throws(() => loadTokenizer(missing), (e: Error) => e instanceof ModelFormatError && /tokenizer\.json: cannot read \(ENOENT\)/.test(e.message));
  const cases: [string, RegExp][] = [
    ['{"model": ', /tokenizer\.json: invalid JSON/],
    ['[1, 2]', /tokenizer\.json: not a JSON object/],
    ['{"added_tokens": []}', /tokenizer\.json: missing field `model`/],
    ['{"model": {"type": "Nonsense"}}', /tokenizer\.json: cannot build the tokenizer \(.*Nonsense/],
  ];
  for (const [text, re] of cases) {
    const dir = folderWith({ 'tokenizer.json': text });
    assert.throws(() => loadTokenizer(dir), (e: Error) => e instanceof ModelFormatError && re.test(e.message), text);
  }
  const badCfg = folderWith({ ...worldFiles(), 'tokenizer_config.json': '{"bos_token": ' });
  assert.throws(() => loadTokenizer(badCfg), /tokenizer_config\.json: invalid JSON/);
  const unknownEos = folderWith(worldFiles({ eos_token: '</s>' }));
  assert.throws(() => loadTokenizer(unknownEos), /tokenizer_config\.json: field `eos_token`: token "<\/s>" is not in tokenizer\.json/);
});

test('applyChatTemplate: a template that throws or does not parse is a ModelFormatError naming the file', () => {
  const raising = "{% if messages[0]['role'] != 'user' %}{{ raise_exception('Conversation roles must start with user') }}{% endif %}ok";
  const dir = folderWith(worldFiles({ chat_template: raising }));
  const tok = loadTokenizer(dir);
  assert.equal(tok.applyChatTemplate([{ role: 'user', content: 'x' }], { addGenerationPrompt: false }), 'ok');
  assert.throws(
    () => tok.applyChatTemplate([{ role: 'system', content: 'x' }], { addGenerationPrompt: false }),
    (e: Error) =>
      e instanceof ModelFormatError && e.message.includes('tokenizer_config.json') && e.message.includes('Conversation roles must start with user'),
  );
  const broken = loadTokenizer(folderWith(worldFiles({ chat_template: '{% for m in messages %}{{ m.content }' })));
  assert.throws(() => broken.applyChatTemplate([], { addGenerationPrompt: true }), (e: Error) => e instanceof ModelFormatError && /tokenizer_config\.json: chat_template: /.test(e.message));
  const none = loadTokenizer(folderWith(worldFiles({ chat_template: null })));
  assert.throws(() => none.applyChatTemplate([], { addGenerationPrompt: true }), /no chat_template/);
});

test('loadTokenizer: chat_template.jinja wins, named template lists, generation_config eos ids, AddedToken dicts', () => {
  const named = [
    { name: 'default', template: "{{ bos_token }}{% for m in messages %}{{ m['content'] }}{{ eos_token }}{% endfor %}" },
    { name: 'tool_use', template: 'tools' },
  ];
  const files = worldFiles({ chat_template: named, bos_token: { __type: 'AddedToken', content: '<|bos|>', special: true } });
  const tok = loadTokenizer(folderWith({ ...files, 'generation_config.json': JSON.stringify({ eos_token_id: [2, 4] }) }));
  assert.equal(tok.applyChatTemplate([{ role: 'user', content: 'hi' }], { addGenerationPrompt: false }), '<|bos|>hi<|im_end|>');
  assert.equal(tok.applyChatTemplate([], { addGenerationPrompt: false, templateName: 'tool_use' }), 'tools');
  assert.equal(tok.bosId, tok.tokenToId('<|bos|>'));
  assert.deepEqual(tok.eosIds, [4, 2]); // tokenizer_config's eos (<|im_end|> = 4) first, then the others
  const jinjaDir = folderWith({ ...worldFiles(), 'chat_template.jinja': '{{ messages | length }} {{ add_generation_prompt }}' });
  assert.equal(loadTokenizer(jinjaDir).applyChatTemplate([{ role: 'user', content: 'a' }], { addGenerationPrompt: true }), '1 true');
  const badGen = folderWith({ ...worldFiles(), 'generation_config.json': '{"eos_token_id": "x"}' });
  assert.throws(() => loadTokenizer(badGen), /generation_config\.json: field `eos_token_id`/);
});

test('decode: empty input, and ids outside the vocabulary are named', () => {
  const { tok } = worldTokenizer();
  assert.equal(tok.decode([]), '');
  assert.throws(() => tok.decode([1, tok.vocabSize]), new RegExp(`token id ${tok.vocabSize} is not in the vocabulary`));
  assert.throws(() => tok.decode([-1]), /token id -1/);
});
