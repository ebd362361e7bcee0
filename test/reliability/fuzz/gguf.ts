/**
 * Fuzz target: GGUF export's reading side (src/model/gguf.ts via `selfplay export`). selfplay has no GGUF
 * reader of its own; what it reads when it writes GGUF is the HF folder: config.json, tokenizer.json,
 * tokenizer_config.json and generation_config.json. Each case corrupts one of them (a value replaced, a key
 * removed, or the whole file replaced) in a tiny model folder; export either writes a file that an independent
 * GGUF parser (@huggingface/gguf) reads back with every tensor, or throws a typed error, leaving no file behind.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gguf } from '@huggingface/gguf';
import fc from 'fast-check';
import { exportCommand } from '../../../src/cli/export.ts';
import { InputError, ModelFormatError } from '../../../src/errors.ts';
import { writeChatFolder } from '../../helpers/chat-folder.ts';
import { awkwardJson, awkwardString, jsonText, params, typedOrValueAsync, type FuzzProperty } from './common.ts';

const FILES = ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json'] as const;

let base: { dir: string; files: Map<string, unknown> } | undefined;
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'fuzz-gguf-'));
process.on('exit', () => fs.rmSync(work, { recursive: true, force: true }));

/** The tiny model folder every case starts from (written once), and its JSON files parsed. */
function baseFolder() {
  if (!base) {
    const dir = writeChatFolder({ seed: 5, generationConfig: { eos_token_id: [4], do_sample: true } });
    base = { dir, files: new Map(FILES.map((f) => [f, JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'))])) };
  }
  return base;
}

/** One corruption: which file, a walk into it (each number picks a key or index), and what happens there. */
const corruption = fc.record({
  file: fc.constantFrom(...FILES),
  walk: fc.array(fc.nat(), { maxLength: 6 }),
  action: fc.oneof(
    { weight: 6, arbitrary: fc.record({ kind: fc.constant<'replace'>('replace'), value: awkwardJson }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant<'delete'>('delete') }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant<'text'>('text'), text: fc.oneof(awkwardString, awkwardJson.map(jsonText)) }) },
  ),
});
type Corruption = typeof corruption extends fc.Arbitrary<infer T> ? T : never;

/** Applies `c` to a deep copy of `json` and returns the file's new text. */
function corrupt(json: unknown, c: Corruption): string {
  if (c.action.kind === 'text') return c.action.text;
  const root = structuredClone(json) as Record<string, unknown>;
  let parent: Record<string, unknown> | unknown[] = root;
  let key: string | number | undefined;
  for (const step of c.walk) {
    const node: unknown = key === undefined ? root : (parent as Record<string, unknown>)[key as string];
    if (typeof node !== 'object' || node === null) break;
    const keys = Array.isArray(node) ? [...node.keys()] : Object.keys(node);
    if (keys.length === 0) break;
    parent = node as Record<string, unknown>;
    key = keys[step % keys.length];
  }
  if (key === undefined) return c.action.kind === 'replace' ? jsonText(c.action.value) : '';
  if (c.action.kind === 'delete') {
    if (Array.isArray(parent)) parent.splice(key as number, 1);
    else delete parent[key as string];
  } else (parent as Record<string, unknown>)[key as string] = c.action.value;
  return jsonText(root);
}

let caseCount = 0;

async function exportCase(c: Corruption): Promise<void> {
  const b = baseFolder();
  const dir = path.join(work, `m${caseCount++ % 4}`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.cpSync(b.dir, dir, { recursive: true });
  fs.writeFileSync(path.join(dir, c.file), corrupt(b.files.get(c.file), c));
  const out = path.join(work, `out${caseCount % 4}.gguf`);
  fs.rmSync(out, { force: true });
  const { value, error } = await typedOrValueAsync(async () => exportCommand({ model: dir, gguf: out, dtype: 'f32' }), [ModelFormatError, InputError]);
  if (error) {
    assert.ok(!fs.existsSync(out), 'a refused export left its output file');
    return;
  }
  const read = await gguf(out, { allowLocalFile: true });
  assert.equal(read.tensorInfos.length, value!.tensors, 'tensor count read back');
  assert.equal(typeof read.metadata['general.architecture'], 'string');
}

export const ggufProperties: FuzzProperty[] = [
  {
    name: 'export of a model folder with one corrupted JSON file',
    weight: 1,
    run: (n, seed) => fc.assert(fc.asyncProperty(corruption, exportCase), params(n, seed)),
  },
];
