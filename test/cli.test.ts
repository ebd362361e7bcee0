/** `selfplay logprobs` end to end, as outside tools call it: a child process on a fixture model folder. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readSafetensors } from '../src/model/safetensors.ts';
import { expectClose } from './helpers/compare.ts';

const root = path.join(import.meta.dirname, '..');
const fixture = path.join(root, 'test', 'fixtures', 'llama-gqa');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'selfplay-cli-'));

function selfplay(...args: string[]) {
  const r = spawnSync(process.execPath, [path.join(root, 'bin', 'selfplay.js'), ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function writeInput(name: string, content: unknown): string {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

test('logprobs prints per-token log-probs that match the PyTorch fixture', () => {
  const expected = readSafetensors(path.join(fixture, 'expected.safetensors')).tensors;
  const ids = expected.get('input_ids')!;
  const mask = expected.get('attention_mask')!;
  const refLp = expected.get('logprobs')!.data as Float32Array;
  const [B, T] = ids.shape;
  const sequences: number[][] = [];
  for (let b = 0; b < B; b++) sequences.push([...Array(T).keys()].filter((t) => mask.data[b * T + t]).map((t) => Number(ids.data[b * T + t])));
  const r = selfplay('logprobs', '--model', fixture, '--input', writeInput('seqs.json', { sequences }));
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { logprobs: (number | null)[][] };
  assert.equal(out.logprobs.length, B);
  out.logprobs.forEach((row, b) => {
    assert.equal(row.length, sequences[b].length);
    assert.equal(row[0], null);
    expectClose(`cli row ${b}`, row.slice(1) as number[], refLp.slice(b * T + 1, b * T + row.length), 1e-4);
  });
});

test('logprobs gives one-line errors naming the file and entry, never a stack trace', () => {
  const cases: [string[], RegExp][] = [
    [['--input', writeInput('bad.json', '{"sequences": [[1, 2], ')], /bad\.json: invalid JSON/],
    [['--input', writeInput('shape.json', { seqs: [] })], /shape\.json: expected an object with a "sequences" array/],
    [['--input', writeInput('neg.json', { sequences: [[1, -3]] })], /neg\.json: sequences\[0\]\[1\] = -3 is not a token id/],
    [['--input', writeInput('oov.json', { sequences: [[1, 2], [3, 999]] })], /oov\.json: sequences\[1\]\[1\] = 999 is outside the vocabulary \(size 64\)/],
    [['--input', path.join(tmp, 'missing.json')], /missing\.json: cannot read \(ENOENT\)/],
  ];
  for (const [args, message] of cases) {
    const r = selfplay('logprobs', '--model', fixture, ...args);
    assert.equal(r.code, 1, `${args}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
  const noModel = selfplay('logprobs', '--model', path.join(tmp, 'nomodel'), '--input', writeInput('ok.json', { sequences: [[1, 2]] }));
  assert.equal(noModel.code, 1);
  assert.match(noModel.stderr, /nomodel\/config\.json: cannot read/);
});
