/**
 * `selfplay serve`: the batcher (with a fake model), request validation, the HTTP API on a tiny random model in
 * process, and end to end: `selfplay serve` and `selfplay eval --judge openai:` as child processes, where the rerun
 * must be answered from the judgement cache; and `selfplay eval --set world` with its default verifier judge.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ChatModel } from '../src/generate/chat.ts';
import type { Generation } from '../src/generate/generator.ts';
import { Runtime } from '../src/runtime/runtime.ts';
import { Batcher, type BatchParams } from '../src/serve/batcher.ts';
import { parseCompletionRequest } from '../src/serve/protocol.ts';
import { startServer, type RunningServer } from '../src/serve/server.ts';
import { FAMILY_NAMES } from '../src/world/types.ts';
import { writeChatFolder } from './helpers/chat-folder.ts';

const root = path.join(import.meta.dirname, '..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'selfplay-serve-'));

/** A tiny random chat model (world tokenizer, ChatML); long enough a context for the judge's prompts. */
/** The shipped default model: the judge behind `selfplay serve` and the evaluated model in the end-to-end test. */
const DEFAULT_MODEL = path.join(import.meta.dirname, '..', 'models', 'default');
const tinyModel = (seed: number) => writeChatFolder({ seed, config: { max_position_embeddings: 4096 } });

const fakeGen = (row: number[], tag: number): Generation => ({ tokens: [tag, ...row], logprobs: [], finishReason: 'length' });
const params = (over: Partial<BatchParams> = {}): BatchParams => ({ temperature: 0, topP: 1, maxNewTokens: 4, stop: [], ...over });

test('batcher: concurrent requests with the same settings run as one batch, split back in order', async () => {
  const calls: { rows: number[][]; seed: number }[] = [];
  const batcher = new Batcher(async (rows, p) => (calls.push({ rows, seed: p.seed }), rows.map((r) => fakeGen(r, calls.length))));
  const [a, b, c] = await Promise.all([
    batcher.submit([1], 1, params()),
    batcher.submit([2], 2, params()),
    batcher.submit([3], 1, params({ maxNewTokens: 9 })),
  ]);
  assert.deepEqual(calls.map((c) => c.rows), [[[1], [2], [2]], [[3]]]);
  assert.deepEqual(a.map((g) => g.tokens), [[1, 1]]);
  assert.deepEqual(b.map((g) => g.tokens), [[1, 2], [1, 2]]);
  assert.deepEqual(c.map((g) => g.tokens), [[2, 3]]);
  assert.deepEqual(batcher.batchRows, [3, 1]);
});

test('batcher: a seeded sampled request runs alone with its seed; maxRows splits batches; errors reach every job', async () => {
  const calls: { rows: number[][]; seed: number }[] = [];
  const batcher = new Batcher(async (rows, p) => (calls.push({ rows, seed: p.seed }), rows.map((r) => fakeGen(r, 0))), { maxRows: 2 });
  await Promise.all([
    batcher.submit([1], 1, params({ temperature: 0.7, seed: 42 })),
    batcher.submit([2], 1, params({ temperature: 0.7, seed: 42 })),
    batcher.submit([3], 1, params()),
    batcher.submit([4], 1, params()),
    batcher.submit([5], 1, params()),
  ]);
  assert.deepEqual(calls.map((c) => c.rows), [[[1]], [[2]], [[3], [4]], [[5]]]);
  assert.deepEqual(calls.slice(0, 2).map((c) => c.seed), [42, 42]);
  const failing = new Batcher(async () => {
    throw new Error('boom');
  });
  const results = await Promise.allSettled([failing.submit([1], 1, params()), failing.submit([2], 1, params())]);
  assert.deepEqual(results.map((r) => r.status), ['rejected', 'rejected']);
});

test('request validation: defaults, and errors naming the field', () => {
  const ok = parseCompletionRequest({ messages: [{ role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] }] }, 'm');
  assert.deepEqual(ok, { messages: [{ role: 'user', content: 'ab' }], temperature: 1, topP: 1, maxTokens: undefined, seed: undefined, n: 1, stop: [], stream: false });
  assert.equal(parseCompletionRequest({ messages: [{ role: 'user', content: 'x' }], max_tokens: 5, stop: 'END' }, 'm').maxTokens, 5);
  const cases: [unknown, RegExp, string | null][] = [
    [{}, /^messages: must be a non-empty list/, 'messages'],
    [{ messages: [{ role: 'robot', content: 'x' }] }, /^messages\[0\]\.role: must be one of/, 'messages[0].role'],
    [{ messages: [{ role: 'user' }] }, /^messages\[0\]\.content: must be a string/, 'messages[0].content'],
    [{ messages: [{ role: 'user', content: 'x' }], temperature: -1 }, /^temperature: must be a number in \[0, 2\]; -1 is out of range$/, 'temperature'],
    [{ messages: [{ role: 'user', content: 'x' }], max_tokens: 1.5 }, /^max_tokens: must be a positive integer/, 'max_tokens'],
    [{ messages: [{ role: 'user', content: 'x' }], n: 0 }, /^n: must be an integer in \[1, 16\]/, 'n'],
    [{ messages: [{ role: 'user', content: 'x' }], stop: ['a', 'b', 'c', 'd', 'e'] }, /^stop: must be/, 'stop'],
    [{ messages: [{ role: 'user', content: 'x' }], top_p: 0 }, /^top_p: must be a number in \(0, 1\]/, 'top_p'],
    [[1, 2], /^body: must be a JSON object, got \[1,2\]$/, 'body'],
  ];
  for (const [body, message, param] of cases) {
    assert.throws(() => parseCompletionRequest(body, 'm'), (e: Error & { param?: string | null }) => message.test(e.message) && e.param === param, JSON.stringify(body));
  }
  assert.throws(() => parseCompletionRequest({ model: 'gpt-4', messages: [] }, 'm'), (e: Error & { status?: number }) => e.status === 404 && /serves "m", not "gpt-4"/.test(e.message));
});

let modelA: string;
let modelB: string;
let runtime: Runtime;
let server: RunningServer;
const logLines: string[] = [];

before(async () => {
  modelA = tinyModel(1);
  modelB = tinyModel(2);
  runtime = new Runtime({ threads: 1 });
  server = await startServer({ chat: ChatModel.load(modelA, runtime), modelId: 'tiny', host: '127.0.0.1', port: 0, batchWindowMs: 100, log: (l) => logLines.push(l) });
});

after(async () => {
  await server?.close();
  await runtime?.release();
});

const JSON_TYPE = { 'content-type': 'application/json' };

async function post(body: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${server.url}/chat/completions`, { method: 'POST', headers: JSON_TYPE, body: typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: res.status, json: await res.json() };
}

const ask = (content: string, extra: object = {}) => ({ model: 'tiny', messages: [{ role: 'user', content }], temperature: 0, max_tokens: 12, ...extra });

test('serve: /v1/models, a completion with usage, n choices', async () => {
  const models = await (await fetch(`${server.url}/models`)).json();
  assert.deepEqual(models, { object: 'list', data: [{ id: 'tiny', object: 'model', created: 0, owned_by: 'selfplay' }] });
  const { status, json } = await post(ask('Reverse the word: abc', { n: 2 }));
  assert.equal(status, 200, JSON.stringify(json));
  assert.equal(json.object, 'chat.completion');
  assert.equal(json.model, 'tiny');
  assert.equal(json.choices.length, 2);
  assert.equal(json.choices[0].message.content, json.choices[1].message.content, 'greedy: both choices agree');
  assert.equal(typeof json.choices[0].message.content, 'string');
  assert.ok(['stop', 'length'].includes(json.choices[0].finish_reason));
  assert.ok(json.usage.prompt_tokens > 5 && json.usage.completion_tokens <= 24);
  assert.equal(json.usage.total_tokens, json.usage.prompt_tokens + json.usage.completion_tokens);
});

test('serve: concurrent requests are answered in one batch, each as it would be alone', async () => {
  const alone = await Promise.all(['Sort the letters of dcba.', 'Add 12 and 30.'].map(async (q) => (await post(ask(q))).json.choices[0].message.content));
  const before = server.batcher.batchRows.length;
  const together = await Promise.all(['Sort the letters of dcba.', 'Add 12 and 30.'].map((q) => post(ask(q))));
  assert.deepEqual(server.batcher.batchRows.slice(before), [2], 'one batch of two rows');
  assert.deepEqual(together.map((r) => r.json.choices[0].message.content), alone);
});

test('serve: a stop string ends the text before it', async () => {
  const full = (await post(ask('Repeat the word ok.'))).json.choices[0].message.content as string;
  const at = [...full].findIndex((ch, i) => i > 0 && /[a-z]/.test(ch));
  assert.ok(at > 0, `no letter to stop at in ${JSON.stringify(full)}`);
  const stop = [...full][at];
  const { json } = await post(ask('Repeat the word ok.', { stop: [stop] }));
  assert.equal(json.choices[0].message.content, full.slice(0, full.indexOf(stop)));
  assert.equal(json.choices[0].finish_reason, 'stop');
});

test('serve: stream true sends the same text as server-sent events, then [DONE]', async () => {
  const plain = (await post(ask('Add 1 and 2.'))).json.choices[0];
  const res = await fetch(`${server.url}/chat/completions`, { method: 'POST', headers: JSON_TYPE, body: JSON.stringify(ask('Add 1 and 2.', { stream: true })) });
  assert.equal(res.headers.get('content-type'), 'text/event-stream');
  const events = (await res.text()).split('\n\n').filter((e) => e !== '').map((e) => e.replace(/^data: /, ''));
  assert.equal(events.at(-1), '[DONE]');
  const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
  assert.ok(chunks.every((c) => c.object === 'chat.completion.chunk'));
  assert.equal(chunks.map((c) => c.choices[0].delta.content ?? '').join(''), plain.message.content);
  assert.equal(chunks.at(-1).choices[0].finish_reason, plain.finish_reason);
});

test('serve: clear JSON errors (400 naming the field, 404 model or path, invalid JSON)', async () => {
  const bad = await post(ask('x', { temperature: 'hot' }));
  assert.equal(bad.status, 400);
  assert.deepEqual(bad.json.error.param, 'temperature');
  assert.match(bad.json.error.message, /temperature: must be a number/);
  assert.equal((await post('{"messages": [')).status, 400);
  const wrongModel = await post(ask('x', { model: 'other' }));
  assert.equal(wrongModel.status, 404);
  assert.equal(wrongModel.json.error.code, 'model_not_found');
  const missing = await fetch(`${server.url}/completions`, { method: 'POST', body: '{}' });
  assert.equal(missing.status, 404);
  assert.ok(logLines.some((l) => /^POST \/v1\/chat\/completions 400 temperature/.test(l)), logLines.join('\n'));
});

/** Starts a child process; resolves with its output when it exits. */
function run(args: string[], onStdout?: (text: string) => void) {
  const child = spawn(process.execPath, [path.join(root, 'bin', 'selfplay.js'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => {
    stdout += d;
    onStdout?.(stdout);
  });
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  return { child, exited, stderr: () => stderr };
}

test('end to end: selfplay serve + selfplay eval --judge openai:URL; the rerun is served from the cache', async () => {
  let resolveUrl: (url: string) => void;
  const urlReady = new Promise<string>((r) => (resolveUrl = r));
  const served = run(['serve', '--model', DEFAULT_MODEL, '--name', 'judge', '--port', '0', '--threads', '1'], (out) => {
    const m = /at (http:\/\/\S+)/.exec(out);
    if (m) resolveUrl(m[1]);
  });
  try {
    const url = await Promise.race([urlReady, served.exited.then((r) => Promise.reject(new Error(`serve exited: ${r.stderr}`)))]);
    const set = path.join(tmp, 'set.jsonl');
    fs.writeFileSync(set, ['Say hello.', 'Name a color.', 'Count to three.'].map((q, i) => JSON.stringify({ instruction: q, subset: i < 2 ? 'easy' : 'hard' })).join('\n'));
    const out = path.join(tmp, 'eval-out');
    const evalArgs = ['eval', '--model', DEFAULT_MODEL, '--baseline', modelB, '--set', set, '--judge', `openai:${url}`, '--judge-model', 'judge',
      '--judge-max-tokens', '4', '--max-tokens', '8', '--out', out, '--threads', '1', '--quiet'];
    const posts = () => served.stderr().split('\n').filter((l) => l.includes('POST /v1/chat/completions 200')).length;

    const first = await run(evalArgs).exited;
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /\| \*\*overall\*\* \| 3 \|/);
    const report = JSON.parse(fs.readFileSync(path.join(out, 'eval.json'), 'utf8'));
    assert.deepEqual([report.judge.counters.requests, report.judge.counters.cached], [6, 0]);
    assert.equal(posts(), 6, 'both orders of 3 pairs');
    assert.deepEqual(report.subsets.map((s: { subset: string; n: number }) => [s.subset, s.n]), [['easy', 2], ['hard', 1]]);
    const outputs = JSON.parse(fs.readFileSync(path.join(out, 'model_outputs.json'), 'utf8'));
    assert.deepEqual(Object.keys(outputs[0]), ['instruction', 'output', 'generator', 'dataset']);
    assert.equal(outputs[2].dataset, 'hard');

    const second = await run(evalArgs).exited;
    assert.equal(second.code, 0, second.stderr);
    const again = JSON.parse(fs.readFileSync(path.join(out, 'eval.json'), 'utf8'));
    assert.deepEqual([again.judge.counters.requests, again.judge.counters.cached], [0, 6]);
    assert.equal(posts(), 6, 'the rerun sent no request');
    assert.deepEqual(again.overall, report.overall);
  } finally {
    served.child.kill('SIGTERM');
    const exit = await served.exited;
    assert.equal(exit.code, 0, `serve exits cleanly on SIGTERM: ${exit.stderr}`);
  }
});

test('selfplay eval --set world: the verifier by default, families as subsets, report files', async () => {
  const out = path.join(tmp, 'world-out');
  const r = await run(['eval', '--model', modelA, '--baseline', modelB, '--set', 'world', '--limit', '12', '--max-tokens', '6', '--out', out, '--threads', '1', '--quiet']).exited;
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(fs.readFileSync(path.join(out, 'eval.json'), 'utf8'));
  assert.equal(report.judge.name, 'verifier');
  assert.deepEqual(report.subsets.map((s: { subset: string; n: number }) => [s.subset, s.n]), FAMILY_NAMES.map((f) => [f, 2]));
  assert.equal(report.overall.n, 12);
  assert.equal(fs.readFileSync(path.join(out, 'eval.md'), 'utf8'), r.stdout);
  for (const f of ['model_outputs.json', 'baseline_outputs.json']) assert.equal(JSON.parse(fs.readFileSync(path.join(out, f), 'utf8')).length, 12);
  assert.ok(!fs.existsSync(path.join(out, 'judgements.jsonl')), 'no cache for the verifier');
});
