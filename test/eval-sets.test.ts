import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { loadEvalPrompts, toAlpacaEvalOutputs, writeAlpacaEvalOutputs } from '../src/eval/sets.ts';
import { FAMILY_NAMES } from '../src/world/types.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'selfplay-sets-'));
function write(name: string, text: string): string {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, text);
  return file;
}

test('AlpacaEval JSON: instruction and dataset (the subset)', () => {
  const file = write('alpaca.json', JSON.stringify([
    { instruction: 'What is a llama?', output: 'ignored', generator: 'gpt4', dataset: 'helpful_base' },
    { instruction: 'Write a haiku.', dataset: 'vicuna' },
    { instruction: 'No dataset here.' },
  ]));
  assert.deepEqual(loadEvalPrompts(file), [
    { id: '0', instruction: 'What is a llama?', subset: 'helpful_base' },
    { id: '1', instruction: 'Write a haiku.', subset: 'vicuna' },
    { id: '2', instruction: 'No dataset here.', subset: 'all' },
  ]);
});

test('JSON Lines: instruction, optional subset (or dataset), blank lines skipped', () => {
  const file = write('set.jsonl', '{"instruction": "a"}\n\n{"instruction": "b", "subset": "math"}\n{"instruction": "c", "dataset": "koala"}\n');
  assert.deepEqual(loadEvalPrompts(file), [
    { id: '0', instruction: 'a', subset: 'all' },
    { id: '1', instruction: 'b', subset: 'math' },
    { id: '2', instruction: 'c', subset: 'koala' },
  ]);
});

test('world: the held-out set, subsets are families, every prompt keeps its instance', () => {
  const prompts = loadEvalPrompts('world');
  assert.equal(prompts.length, 720);
  assert.deepEqual([...new Set(prompts.map((p) => p.subset))], [...FAMILY_NAMES]);
  for (const p of prompts) assert.equal(p.instance?.family, p.subset, p.id);
  assert.equal(prompts[0].id, 'reverse-d1-000');
});

test('bad sets are named by file and line or index', () => {
  const cases: [string, string, RegExp][] = [
    ['bad1.jsonl', '{"instruction": "a"}\n{"prompt": "b"}\n', /bad1\.jsonl:2: field "instruction" must be a string \(missing\)/],
    ['bad2.jsonl', '{"instruction": "a"}\n{"instruction": \n', /bad2\.jsonl:2: invalid JSON/],
    ['bad3.json', '[{"instruction": "a"}, {"instruction": 5}]', /bad3\.json: entry \[1\]: field "instruction" must be a string/],
    ['bad4.json', '[{"instruction": "a", "dataset": 3}]', /bad4\.json: entry \[0\]: field "dataset" must be a non-empty string/],
    ['bad5.json', '[1]', /bad5\.json: entry \[0\]: expected an object/],
    ['bad6.jsonl', '\n\n', /bad6\.jsonl: no instructions/],
    ['bad7.jsonl', '{"instruction": "  "}', /bad7\.jsonl:1: field "instruction" is empty/],
  ];
  for (const [name, text, message] of cases) assert.throws(() => loadEvalPrompts(write(name, text)), message, name);
  assert.throws(() => loadEvalPrompts(path.join(tmp, 'missing.json')), /--set .*missing\.json: cannot read \(ENOENT\)/);
});

test('AlpacaEval outputs: instruction, output, generator, dataset; readable back as a set', () => {
  const prompts = loadEvalPrompts(write('in.json', JSON.stringify([
    { instruction: 'Say hi.', dataset: 'oasst' },
    { instruction: 'Count to 3.', dataset: 'selfinstruct' },
  ])));
  const entries = toAlpacaEvalOutputs(prompts, ['hi', '1 2 3'], 'my-model');
  const file = path.join(tmp, 'model_outputs.json');
  writeAlpacaEvalOutputs(file, entries);
  const back = JSON.parse(fs.readFileSync(file, 'utf8'));
  assert.deepEqual(back, [
    { instruction: 'Say hi.', output: 'hi', generator: 'my-model', dataset: 'oasst' },
    { instruction: 'Count to 3.', output: '1 2 3', generator: 'my-model', dataset: 'selfinstruct' },
  ]);
  assert.deepEqual(loadEvalPrompts(file).map((p) => p.subset), ['oasst', 'selfinstruct']);
  assert.deepEqual(fs.readdirSync(tmp).filter((f) => f.includes('.tmp-')), [], 'no temporary file left');
  assert.throws(() => toAlpacaEvalOutputs(prompts, ['one'], 'x'), /1 outputs for 2 instructions/);
});
