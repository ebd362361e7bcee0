/**
 * The dev-only llama.cpp peer for tests: node-llama-cpp (never a dependency of this package), found as the bench
 * finds it (bench/peer-llamacpp.ts): the folder named by SELFPLAY_BENCH_NODE_LLAMA_CPP, else bench/.peer, each
 * holding node_modules/node-llama-cpp. Its prebuilt CPU binary is used as is (`build: "never"`).
 *
 * Tests call {@link loadPeer} in `before()` and skip with the returned reason when it is a string.
 */
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseModelConfig } from '../../src/model/config.ts';
import { writeGguf } from '../../src/model/gguf.ts';
import { Rng } from '../../src/util/rng.ts';
import { randomWeights } from './chat-folder.ts';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const ENV = 'SELFPLAY_BENCH_NODE_LLAMA_CPP';
const INSTALL = 'npm install --prefix bench/.peer node-llama-cpp';

export interface PeerModel {
  tokenize(text: string, specialTokens?: boolean): number[];
  detokenize(tokens: readonly number[], specialTokens?: boolean): string;
  createContext(options: Record<string, unknown>): Promise<PeerContext>;
  dispose(): Promise<void>;
}
export interface PeerContext {
  getSequence(): PeerSequence;
  dispose(): Promise<void>;
}
export interface PeerSequence {
  evaluate(tokens: number[], options: Record<string, unknown>): AsyncGenerator<number, void, void | number | number[]>;
}
export interface Peer {
  version: string;
  /** Loads a GGUF (vocabulary only unless `full`). */
  load(file: string, full?: boolean): Promise<PeerModel>;
  dispose(): Promise<void>;
}

/** The llama.cpp peer, or why it is not available (a one-line message naming the install command). */
export async function loadPeer(): Promise<Peer | string> {
  const fromEnv = process.env[ENV];
  const dir = fromEnv ? path.resolve(fromEnv) : path.join(ROOT, 'bench', '.peer');
  const pkg = path.join(dir, 'node_modules', 'node-llama-cpp', 'package.json');
  if (!fs.existsSync(pkg)) {
    return `llama.cpp peer not installed (no ${path.relative(ROOT, pkg) || pkg}); install it with \`${INSTALL}\` or set ${ENV}`;
  }
  try {
    const version = String(JSON.parse(fs.readFileSync(pkg, 'utf8')).version);
    const entry = createRequire(path.join(dir, 'noop.js')).resolve('node-llama-cpp');
    const nlc = await import(pathToFileURL(entry).href);
    const llama = await nlc.getLlama({ build: 'never', gpu: false, logLevel: nlc.LlamaLogLevel.error, progressLogs: false });
    return {
      version,
      load: (file, full = false) => llama.loadModel({ modelPath: file, gpuLayers: 0, vocabOnly: !full }),
      dispose: () => llama.dispose(),
    };
  } catch (e) {
    return `node-llama-cpp in ${dir} does not load: ${(e as Error).message.split('\n')[0]}`;
  }
}

/**
 * A GGUF of a tiny random model (hidden 16, 1 layer) around the tokenizer files in `tokenizerDir`, written by our
 * exporter; returns its path (in a new temporary folder). Enough for llama.cpp to load the vocabulary.
 */
export function tinyGguf(tokenizerDir: string, vocabSize: number, architecture = 'LlamaForCausalLM'): string {
  const raw = {
    architectures: [architecture],
    vocab_size: vocabSize,
    hidden_size: 16,
    intermediate_size: 32,
    num_hidden_layers: 1,
    num_attention_heads: 2,
    num_key_value_heads: 1,
    max_position_embeddings: 256,
    tie_word_embeddings: true,
  };
  const cfg = parseModelConfig(raw, 'config.json');
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'gguf-peer-')), 'model.gguf');
  writeGguf(file, { cfg, weights: randomWeights(raw, 1), tokenizerDir, dtype: 'f16', name: 'tokenizer-check' });
  return file;
}

/** Ordinary and tricky strings for tokenizer parity: digits, contractions, whitespace runs, unicode, code. */
export const TORTURE_CORPUS: readonly string[] = [
  'Hello world',
  "I've got 12345 apples, don't you?",
  "World's",
  'x=3.14159;y=-42',
  'first line\n\nsecond paragraph',
  'tabs\tand\t\ttabs   and   spaces    ',
  '   leading spaces',
  'trailing spaces   ',
  '\n\n\nnewlines first',
  "They're here; we'll see. It'd be fine, I'm sure, you've said, he's 'RE'.",
  '1 22 333 4444 55555 666666 1234567890',
  '3.3 3..3 3...3 1,000,000 -7e-3',
  'caf\u00e9 na\u00efve r\u00e9sum\u00e9 \u00fcber stra\u00dfe',
  '\u043d\u0435\u0449\u043e \u043d\u0430 \u0411\u044a\u043b\u0433\u0430\u0440\u0441\u043a\u0438',
  '\u6211\u60f3\u5728apple\u5de5\u4f5c1314151\u5929\uff5e',
  '\u{1F680} rocket \u{1F999}\u{1F999} llamas \u{1F636}\u200d\u{1F32B}\uFE0F face \u2705',
  'function add(a, b) {\n  return a + b; // sum\n}',
  'if (x >= 10 && y != "str") { arr[i++] = {k: v}; }',
  'def f(x):\n    return x ** 2  # square\n',
  '<div class="a">Text &amp; more</div>',
  'https://example.com/path?q=1&r=two#frag',
  '------======= \'\'\'\'\'\'```````""""......!!!!!!??????',
  'CamelCaseWord snake_case_word SCREAMING_CASE',
  'Reverse the word: gute',
  'a',
  ' ',
];

/** Pieces {@link randomTexts} strings together: words, contractions, whitespace runs, digits, punctuation, unicode. */
const PIECES = [
  'the', ' the', 'The', 'THE', 'Score', ' word', "'s", "'t", "'re", "'ve", "'ll", "'d", "'M", ' ', '  ', '   ', '\n', '\n\n',
  '\t', '\r\n', '0', '12', '345', '6789', '3.14', '-', '=', ';', '(', ')', '{', '}', '"', "'", '`', '.', ',', '!', '?',
  '...', '\u00e9', '\u00df', '\u00fc', '\u4e2d\u6587', '\u044f', '\u0416', '\u{1F680}', '\u{1F999}', '\u{1F44D}\u{1F3FD}',
  '\u200d', '\uFE0F', 'https://', 'x_y', 'camelCase', 'ABC', 'na\u00efve', '\u00a0', '\ufb01', '\u0661\u0662\u0663', '\u0e01',
  '\ud55c\uad6d\uc5b4', '<', '>', '/', '\\', '#', '@', '$', '%', '^', '&', '*', '+', '|', '~', ':', 'hello', 'don', 'I', 'a',
];

/** `n` seeded strings of 1..12 random {@link PIECES}. */
export function randomTexts(n: number, seed: number): string[] {
  const rng = new Rng(seed);
  const pick = () => PIECES[Math.floor(rng.next() * PIECES.length)];
  return Array.from({ length: n }, () => Array.from({ length: 1 + Math.floor(rng.next() * 12) }, pick).join(''));
}
