/**
 * `selfplay generate` and `selfplay export` end to end, as a user runs them: a child process on model folders.
 * Greedy output is checked against decoding by full recomputation (no KV cache); GGUF files are read back with
 * @huggingface/gguf and compared with the safetensors weights (and base + scaled LoRA product, computed here).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gguf } from '@huggingface/gguf';
import { generateCommand, generationDefaults } from '../src/cli/generate.ts';
import { ModelFormatError } from '../src/errors.ts';
import { ModelEngine } from '../src/model/engine.ts';
import { initLora, saveLoraAdapter, type LoraConfig } from '../src/model/lora.ts';
import { loadModelFolder } from '../src/model/modelfolder.ts';
import { readSafetensors } from '../src/model/safetensors.ts';
import { Runtime } from '../src/runtime/runtime.ts';
import { Rng } from '../src/util/rng.ts';
import { writeChatFolder } from './helpers/chat-folder.ts';

const root = path.join(import.meta.dirname, '..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'selfplay-cli-gen-'));
const runtime = new Runtime({ threads: 1 });
after(() => runtime.release());

function selfplay(...args: string[]) {
  const r = spawnSync(process.execPath, [path.join(root, 'bin', 'selfplay.js'), ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const model = writeChatFolder({ seed: 3 });
const PROMPT = 'Reverse the word cat.';

/** Greedy decoding by recomputing all logits each step, argmax over the tokenizer's ids, up to EOS: the reference. */
async function greedyReference(dir: string, chat: boolean, maxTokens: number): Promise<string> {
  const folder = loadModelFolder(dir);
  const tok = folder.tokenizer!;
  const engine = new ModelEngine(folder.cfg, folder.weights, runtime, `ref-${dir}`);
  const text = chat ? tok.applyChatTemplate([{ role: 'user', content: PROMPT }], { addGenerationPrompt: true }) : PROMPT;
  const seq = tok.encode(text, { addSpecialTokens: !chat });
  const start = seq.length;
  const V = folder.cfg.vocabSize;
  for (let i = 0; i < maxTokens; i++) {
    const { logits } = await engine.logits([seq]);
    const row = logits.subarray((seq.length - 1) * V, (seq.length - 1) * V + tok.vocabSize);
    seq.push(row.indexOf(Math.max(...row)));
    if (tok.eosIds.includes(seq.at(-1)!)) break;
  }
  const generated = seq.slice(start).filter((t) => !tok.eosIds.includes(t));
  return tok.decode(generated, { skipSpecialTokens: true });
}

for (const chat of [false, true]) {
  test(`generate ${chat ? '--chat ' : ''}--temperature 0 prints what greedy decoding without a cache gives`, async () => {
    const args = ['generate', '--model', model, '--prompt', PROMPT, '--temperature', '0', '--max-tokens', '12', ...(chat ? ['--chat'] : [])];
    const r = selfplay(...args);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${await greedyReference(model, chat, 12)}\n`);
  });
}

test('generate: the same seed prints the same bytes; --n K prints K completions; another seed differs', async () => {
  const args = ['generate', '--model', model, '--prompt', PROMPT, '--n', '3', '--max-tokens', '16', '--top-k', '50', '--top-p', '0.95'];
  const a = selfplay(...args, '--seed', '5');
  const b = selfplay(...args, '--seed', '5');
  const c = selfplay(...args, '--seed', '6');
  assert.equal(a.code, 0, a.stderr);
  assert.equal(a.stdout, b.stdout);
  assert.notEqual(a.stdout, c.stdout);
  const texts = await generateCommand({ model, prompt: PROMPT, n: 3, maxTokens: 16, topK: 50, topP: 0.95, seed: 5, threads: 1 });
  assert.equal(texts.length, 3);
  assert.equal(a.stdout, texts.map((t) => `${t}\n`).join(''));
  assert.ok(new Set(texts).size > 1, 'three samples at temperature 1 should not all agree');
});

test('generate: defaults come from generation_config.json (do_sample false = greedy, max_new_tokens)', async () => {
  const greedyFolder = writeChatFolder({ seed: 3, generationConfig: { eos_token_id: 4, do_sample: false, max_new_tokens: 5 } });
  const r = selfplay('generate', '--model', greedyFolder, '--prompt', PROMPT);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `${await greedyReference(greedyFolder, false, 5)}\n`);
  assert.deepEqual(generationDefaults({ temperature: 0.7, top_p: 0.8, top_k: 20 }, 'g.json'), { temperature: 0.7, topP: 0.8, topK: 20, maxTokens: undefined });
  assert.throws(() => generationDefaults({ temperature: 'hot' }, 'g.json'), /g\.json: field `temperature`: must be a number >= 0, got "hot"/);
  assert.throws(() => generationDefaults({ top_k: 1.5 }, 'g.json'), ModelFormatError);
});

test('generate: one-line errors for a missing folder, no tokenizer, bad numbers', () => {
  const fixture = path.join(root, 'test', 'fixtures', 'llama-gqa');
  const badGen = writeChatFolder({ generationConfig: { top_p: 3 } });
  const cases: [string[], RegExp][] = [
    [['--model', path.join(tmp, 'nope')], /--model: .*nope: no such folder/],
    [['--model', fixture], /llama-gqa\/tokenizer\.json: missing; a chat model needs its tokenizer/],
    [['--model', model, '--temperature', 'warm'], /--temperature: expected a number >= 0, got "warm"/],
    [['--model', model, '--top-p', '2'], /top-p must be in \(0, 1\], got 2/],
    [['--model', model, '--top-k', '1.5'], /--top-k: expected an integer >= 0, got "1\.5"/],
    [['--model', model, '--n', '0'], /--n: expected a positive integer, got "0"/],
    [['--model', model, '--max-tokens', '1000'], /--max-tokens: prompt \(\d+ tokens\) \+ 1000 new tokens exceed the model's 256 positions/],
    [['--model', badGen], /generation_config\.json: field `top_p`: must be a number in \(0, 1\], got 3/],
  ];
  for (const [args, message] of cases) {
    const r = selfplay('generate', '--prompt', PROMPT, ...args);
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    assert.equal(r.stdout, '');
  }
});

// ---- export

/** The f32 data of every tensor in a GGUF file, by GGUF name. */
async function ggufTensors(file: string): Promise<Map<string, Float32Array>> {
  const parsed = await gguf(file, { allowLocalFile: true });
  const bytes = fs.readFileSync(file);
  const out = new Map<string, Float32Array>();
  for (const info of parsed.tensorInfos) {
    assert.equal(Number(info.dtype), 0, `${info.name}: f32`);
    const n = info.shape.reduce((a, b) => a * Number(b), 1);
    const start = Number(parsed.tensorDataOffset + info.offset);
    out.set(info.name, new Float32Array(new Uint8Array(bytes.subarray(start, start + 4 * n)).buffer));
  }
  return out;
}

test('export --dtype f32 writes the folder\'s weights, read back with @huggingface/gguf', async () => {
  const fixture = path.join(root, 'test', 'fixtures', 'llama-gqa');
  const out = path.join(tmp, 'plain.gguf');
  const r = selfplay('export', '--model', fixture, '--gguf', out, '--dtype', 'f32');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /wrote .*plain\.gguf: 21 tensors/);
  const got = await ggufTensors(out);
  const src = readSafetensors(path.join(fixture, 'model.safetensors')).tensors;
  assert.deepEqual(got.get('token_embd.weight'), src.get('model.embed_tokens.weight')!.data);
  assert.deepEqual(got.get('blk.1.ffn_down.weight'), src.get('model.layers.1.mlp.down_proj.weight')!.data);
  const bad = selfplay('export', '--model', fixture, '--gguf', path.join(tmp, 'x.gguf'), '--dtype', 'q4');
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /--dtype: expected f16 or f32, got "q4"/);
  const noAdapter = selfplay('export', '--model', fixture, '--gguf', path.join(tmp, 'y.gguf'), '--adapter', tmp);
  assert.equal(noAdapter.code, 1);
  assert.match(noAdapter.stderr, /--adapter: .*adapter_config\.json not found/);
});

/** W + (alpha / r) B A in float64 loops, rounded to f32: the merge computed independently of src/model/lora.ts. */
function mergedReference(W: Float32Array, A: Float32Array, B: Float32Array, r: number, scale: number): Float32Array {
  const inDim = A.length / r;
  const outDim = B.length / r;
  const out = new Float32Array(W.length);
  for (let o = 0; o < outDim; o++) {
    for (let i = 0; i < inDim; i++) {
      let acc = 0;
      for (let k = 0; k < r; k++) acc += B[o * r + k] * A[k * inDim + i];
      out[o * inDim + i] = W[o * inDim + i] + scale * acc;
    }
  }
  return out;
}

test('export merges a LoRA adapter: in the model folder, or given with --adapter', async () => {
  const fixture = path.join(root, 'test', 'fixtures', 'llama-gqa');
  const folder = loadModelFolder(fixture);
  const lora: LoraConfig = { rank: 2, alpha: 6, targets: ['down_proj', 'v_proj'] };
  const adapters = initLora(folder.cfg, lora, 9);
  const rng = new Rng(4);
  for (const [name, a] of adapters) if (name.includes('lora_B')) for (let i = 0; i < a.length; i++) a[i] = rng.next() - 0.5; // B starts at 0
  const adapterDir = path.join(tmp, 'adapter');
  saveLoraAdapter(adapterDir, lora, adapters, folder.cfg);
  const withAdapter = path.join(tmp, 'with-adapter');
  fs.cpSync(fixture, withAdapter, { recursive: true });
  fs.cpSync(adapterDir, withAdapter, { recursive: true });
  const src = readSafetensors(path.join(fixture, 'model.safetensors')).tensors;
  const w = (n: string) => src.get(n)!.data as Float32Array;
  for (const args of [['--model', withAdapter], ['--model', fixture, '--adapter', adapterDir]]) {
    const out = path.join(tmp, `merged-${args.length}.gguf`);
    const r = selfplay('export', ...args, '--gguf', out, '--dtype', 'f32');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /adapter .* merged/);
    const got = await ggufTensors(out);
    let worst = 0;
    for (const [gg, hf] of [['blk.0.ffn_down.weight', 'model.layers.0.mlp.down_proj.weight'], ['blk.1.attn_v.weight', 'model.layers.1.self_attn.v_proj.weight']]) {
      const A = adapters.get(`${hf.replace(/\.weight$/, '')}.lora_A.weight`)!;
      const B = adapters.get(`${hf.replace(/\.weight$/, '')}.lora_B.weight`)!;
      const ref = mergedReference(w(hf), A, B, lora.rank, lora.alpha / lora.rank);
      const g = got.get(gg)!;
      for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(g[i] - ref[i]));
      assert.notDeepEqual(g, w(hf), `${gg}: the adapter changed nothing`);
    }
    console.log(`  merged LoRA export (${args.join(' ')}): max |gguf - (W + s B A)| = ${worst.toExponential(2)}`);
    assert.ok(worst <= 1e-6, `max difference ${worst}`);
    assert.deepEqual(got.get('blk.0.ffn_up.weight'), w('model.layers.0.mlp.up_proj.weight'), 'a non-target weight changed');
  }
});
