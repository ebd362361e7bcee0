import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { JudgementCache } from '../src/rewards/judgement-cache.ts';
import { parseJudgeSpec } from '../src/eval/judges/index.ts';
import { chatCompletionsUrl, mapConcurrent } from '../src/rewards/chat-client.ts';
import { OpenAIJudge, parseVerdict } from '../src/eval/judges/openai.ts';
import { loadRewardModelJudge, RewardModelJudge } from '../src/eval/judges/reward-model.ts';
import { combineOrders, preferenceFromScores, type JudgePair } from '../src/eval/judges/types.ts';
import { VerifierJudge } from '../src/eval/judges/verifier.ts';
import { loadEvalPrompts, type EvalPrompt } from '../src/eval/sets.ts';
import { loadEvalSet } from '../src/world/evalset.ts';
import { RewardModel } from '../src/model/reward-model.ts';
import { Runtime } from '../src/runtime/runtime.ts';
import { writeWorldTokenizer } from './helpers/chat-folder.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'selfplay-judges-'));
const prompt = (instruction: string, id = instruction): EvalPrompt => ({ id, instruction, subset: 'all' });

test('combining both orders: agreement stands, any disagreement is a tie', () => {
  const table: [0 | 0.5 | 1, 0 | 0.5 | 1, number][] = [
    [1, 1, 1], [0, 0, 0], [0.5, 0.5, 0.5], [1, 0, 0.5], [0, 1, 0.5], [1, 0.5, 0.5], [0.5, 0, 0.5],
  ];
  for (const [a, b, want] of table) assert.equal(combineOrders(a, b), want, `${a},${b}`);
  assert.deepEqual([preferenceFromScores(2, 1), preferenceFromScores(1, 2), preferenceFromScores(1, 1)], [1, 0, 0.5]);
});

test('verdict parsing: the last Verdict line, a bare answer, or null', () => {
  assert.equal(parseVerdict('Answer 2 is wrong.\nVerdict: 1'), 1);
  assert.equal(parseVerdict('Verdict: 1 ... on reflection\nVerdict: **2**'), 2);
  assert.equal(parseVerdict('verdict - TIE'), 'tie');
  assert.equal(parseVerdict(' 2. '), 2);
  assert.equal(parseVerdict('Both are fine, I think answer 1.'), null);
  assert.equal(parseVerdict('Verdict: 12'), null);
});

test('judge specs: defaults, kinds, and errors naming the flag', () => {
  assert.deepEqual(parseJudgeSpec(undefined, 'world'), { kind: 'verifier' });
  assert.deepEqual(parseJudgeSpec('reward-model:/m/rm', 'x.json'), { kind: 'reward-model', dir: '/m/rm' });
  assert.deepEqual(parseJudgeSpec('openai:http://127.0.0.1:8080/v1', 'x.json'), { kind: 'openai', url: 'http://127.0.0.1:8080/v1' });
  assert.throws(() => parseJudgeSpec(undefined, 'x.json'), /--judge is required/);
  assert.throws(() => parseJudgeSpec('verifier', 'x.json'), /--judge verifier judges only --set world/);
  assert.throws(() => parseJudgeSpec('openai:localhost', 'x.json'), /--judge openai:localhost: expected/);
  assert.throws(() => parseJudgeSpec('gpt4', 'x.json'), /--judge gpt4: expected/);
  assert.equal(chatCompletionsUrl('http://h:1'), 'http://h:1/v1/chat/completions');
  assert.equal(chatCompletionsUrl('http://h:1/v1/'), 'http://h:1/v1/chat/completions');
  assert.equal(chatCompletionsUrl('https://h/v1/chat/completions'), 'https://h/v1/chat/completions');
});

test('verifier: the world reward decides; an answer closer to the reference wins', async () => {
  const world = loadEvalPrompts('world');
  const rev = world.find((p) => p.id === 'reverse-d1-000')!;
  const answer = loadEvalSet().find((it) => it.id === rev.id)!.answer; // the reversed word
  const word = [...answer].reverse().join('');
  assert.notEqual(word, answer, 'the test needs a word that is not a palindrome');
  const judge = new VerifierJudge();
  const prefs = await judge.judge([
    { prompt: rev, model: answer, baseline: word },
    { prompt: rev, model: 'x'.repeat(answer.length), baseline: answer },
    { prompt: rev, model: answer, baseline: ` ${answer} ` },
  ]);
  assert.deepEqual(prefs, [1, 0, 0.5]);
  await assert.rejects(judge.judge([{ prompt: prompt('hi'), model: 'a', baseline: 'b' }]), /has no world instance/);
});

test('reward model: higher score wins, scored in batches of model and baseline rows', async () => {
  const calls: number[] = [];
  const scorer = { score: async (rows: { prompt: string; response: string }[]) => (calls.push(rows.length), rows.map((r) => r.response.length)) };
  const judge = new RewardModelJudge(scorer, 'rm', 2);
  const pairs: JudgePair[] = [['long answer', 'short'], ['a', 'bb'], ['same', 'same'], ['xxx', 'x']].map(([m, b]) => ({ prompt: prompt('q'), model: m, baseline: b }));
  assert.deepEqual(await judge.judge(pairs), [1, 0, 0.5, 1]);
  assert.deepEqual(calls, [4, 4]);
  assert.equal(judge.name, 'reward-model:rm');
});

test('reward-model:DIR loads a LlamaForSequenceClassification folder; the evaluated answer is the first of each pair', async () => {
  const dir = path.join(tmp, 'reward');
  fs.cpSync(path.join(import.meta.dirname, 'fixtures', 'llama-reward'), dir, { recursive: true });
  writeWorldTokenizer(dir);
  const runtime = new Runtime({ threads: 1 });
  try {
    const judge = loadRewardModelJudge(dir, runtime);
    const answers = ['yes', 'no', 'maybe so', 'a b c'];
    const rm = RewardModel.load(dir, runtime, 'reference');
    const scores = await rm.score(answers.map((response) => ({ prompt: 'Is it?', response })));
    console.log(`reward scores ${scores.map((s) => s.toFixed(4)).join(', ')}`);
    assert.equal(new Set(scores).size, 4, 'distinct scores, so the order of the pair matters');
    const pairs = [[0, 1], [1, 0], [2, 3], [3, 2]].map(([m, b]) => ({ prompt: prompt('Is it?'), model: answers[m], baseline: answers[b] }));
    const expected = [[0, 1], [1, 0], [2, 3], [3, 2]].map(([m, b]) => (scores[m] > scores[b] ? 1 : 0));
    assert.deepEqual(await judge.judge(pairs), expected);
    assert.throws(() => loadRewardModelJudge(path.join(tmp, 'missing'), runtime), /missing\/config\.json/);
  } finally {
    await runtime.release();
  }
});

test('judgement cache: survives a torn last line; the next line starts clean', () => {
  const file = path.join(tmp, 'torn.jsonl');
  fs.writeFileSync(file, `${JSON.stringify({ key: 'a', value: 'Verdict: 1' })}\n{"key": "b", "val`);
  const cache = new JudgementCache(file);
  assert.equal(cache.get('a'), 'Verdict: 1');
  assert.equal(cache.skippedLines, 1);
  cache.put('c', 'Verdict: 2');
  const again = new JudgementCache(file);
  assert.deepEqual([again.get('a'), again.get('b'), again.get('c'), again.size], ['Verdict: 1', undefined, 'Verdict: 2', 2]);
});

test('mapConcurrent keeps order and never exceeds the limit', async () => {
  let inFlight = 0;
  let peak = 0;
  const out = await mapConcurrent([5, 1, 4, 2, 3], 2, async (x) => {
    peak = Math.max(peak, ++inFlight);
    await new Promise((r) => setTimeout(r, x));
    inFlight--;
    return x * 10;
  });
  assert.deepEqual(out, [50, 10, 40, 20, 30]);
  assert.equal(peak, 2);
});


test('mapConcurrent: after a failure nothing new starts, calls in flight finish, then the first error is thrown', async () => {
  const started: number[] = [];
  const finished: number[] = [];
  const run = mapConcurrent([0, 1, 2, 3, 4], 2, async (x) => {
    started.push(x);
    await new Promise((r) => setTimeout(r, x === 0 ? 1 : 20));
    if (x === 0) throw new Error('item 0 failed');
    finished.push(x);
    return x;
  });
  await assert.rejects(run, /item 0 failed/);
  assert.deepEqual(started, [0, 1], 'no new call after the failure');
  assert.deepEqual(finished, [1], 'the call in flight was waited for');
});
/** A fake OpenAI endpoint: `decide` sees answer_1 and answer_2 and returns the reply text (or a status to fail). */
interface FakeServer {
  url: string;
  requests: { model: string; first: string; second: string; auth?: string }[];
  peak: number;
  close(): Promise<void>;
}

/** Every fake server is closed when the file ends, even after a failed assertion (an open one keeps the run alive). */
const openServers = new Set<http.Server>();
after(() => Promise.all([...openServers].map((s) => new Promise<void>((r) => s.close(() => r())))));

async function fakeOpenAI(decide: (first: string, second: string, n: number) => string | number): Promise<FakeServer> {
  let inFlight = 0;
  const state: FakeServer = { url: '', requests: [], peak: 0, close: async () => {} };
  const server = http.createServer(async (req, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    state.peak = Math.max(state.peak, ++inFlight);
    await new Promise((r) => setTimeout(r, 5));
    inFlight--;
    const json = JSON.parse(body);
    const text: string = json.messages.at(-1).content;
    const first = /<answer_1>\n([\s\S]*?)\n<\/answer_1>/.exec(text)![1];
    const second = /<answer_2>\n([\s\S]*?)\n<\/answer_2>/.exec(text)![1];
    const reply = decide(first, second, state.requests.length);
    state.requests.push({ model: json.model, first, second, auth: req.headers.authorization });
    if (typeof reply === 'number') {
      res.writeHead(reply, reply === 429 ? { 'retry-after': '0' } : {}).end(JSON.stringify({ error: { message: `status ${reply}` } }));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ choices: [{ index: 0, message: { role: 'assistant', content: reply }, finish_reason: 'stop' }] }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  openServers.add(server);
  state.close = () => {
    openServers.delete(server);
    return new Promise((r) => server.close(() => r()));
  };
  return state;
}

const pairsOf = (specs: [string, string][]): JudgePair[] => specs.map(([m, b], i) => ({ prompt: prompt(`instruction ${i}`), model: m, baseline: b }));

test('openai judge: both orders, bounded concurrency, API key, and a cache hit on the second run', async () => {
  // A fair judge prefers the answer that says GOOD.
  const server = await fakeOpenAI((a, b) => (a.includes('GOOD') === b.includes('GOOD') ? 'Verdict: tie' : a.includes('GOOD') ? 'Verdict: 1' : 'Verdict: 2'));
  const cacheFile = path.join(tmp, 'fair.jsonl');
  const pairs = pairsOf([['GOOD', 'bad'], ['bad', 'GOOD'], ['bad', 'bad'], ['GOOD one', 'meh']]);
  const make = () => new OpenAIJudge({ url: server.url, model: 'judge-x', apiKey: 'sk-test', cache: new JudgementCache(cacheFile), concurrency: 3 });
  const first = make();
  assert.deepEqual(await first.judge(pairs), [1, 0, 0.5, 1]);
  assert.equal(server.requests.length, 8);
  for (const p of pairs) {
    assert.ok(server.requests.some((r) => r.first === p.model && r.second === p.baseline), 'model first');
    assert.ok(server.requests.some((r) => r.first === p.baseline && r.second === p.model), 'model second');
  }
  assert.ok(server.requests.every((r) => r.model === 'judge-x' && r.auth === 'Bearer sk-test'));
  assert.ok(server.peak <= 3 && server.peak >= 2, `peak ${server.peak}`);
  assert.deepEqual(first.counters(), { requests: 8, retries: 0, cached: 0, unparsed: 0, order_disagreements: 0 });
  const second = make();
  assert.deepEqual(await second.judge(pairs), [1, 0, 0.5, 1]);
  assert.equal(server.requests.length, 8, 'the rerun sends no request');
  assert.equal(second.counters().cached, 8);
  await server.close();
});

test('openai judge: a judge that always picks the first position yields only ties', async () => {
  const server = await fakeOpenAI(() => 'The first one.\nVerdict: 1');
  const judge = new OpenAIJudge({ url: `${server.url}/v1`, model: 'm', cache: new JudgementCache(path.join(tmp, 'biased.jsonl')) });
  assert.deepEqual(await judge.judge(pairsOf([['GOOD', 'bad'], ['bad', 'GOOD']])), [0.5, 0.5]);
  assert.equal(judge.counters().order_disagreements, 2);
  await server.close();
});

test('openai judge: retries 5xx and 429 with backoff, then succeeds; 400 fails at once naming the endpoint', async () => {
  const flaky = await fakeOpenAI((_a, _b, n) => (n === 0 ? 503 : n === 1 ? 429 : n === 2 ? 500 : 'Verdict: 1'));
  const judge = new OpenAIJudge({ url: flaky.url, model: 'm', cache: new JudgementCache(path.join(tmp, 'flaky.jsonl')), concurrency: 1, baseDelayMs: 1 });
  assert.deepEqual(await judge.judge(pairsOf([['a', 'b']])), [0.5]); // "1" in both orders: disagreement
  assert.equal(flaky.requests.length, 5);
  assert.equal(judge.counters().retries, 3);
  await flaky.close();

  const refusing = await fakeOpenAI(() => 400);
  const bad = new OpenAIJudge({ url: refusing.url, model: 'm', cache: new JudgementCache(path.join(tmp, 'refused.jsonl')), baseDelayMs: 1 });
  await assert.rejects(bad.judge(pairsOf([['a', 'b']])), /\/v1\/chat\/completions: HTTP 400: status 400/);
  assert.equal(refusing.requests.length, 2, 'no retry of a 400 (one request per order)');
  await refusing.close();
});

test('openai judge: an unreachable endpoint is retried, then named in the error', async () => {
  const server = await fakeOpenAI(() => 'Verdict: 1');
  const url = server.url;
  await server.close(); // nothing listens on this port now
  const judge = new OpenAIJudge({ url, model: 'm', cache: new JudgementCache(path.join(tmp, 'down.jsonl')), retries: 2, baseDelayMs: 1, concurrency: 1 });
  await assert.rejects(judge.judge(pairsOf([['a', 'b']])), /127\.0\.0\.1:\d+\/v1\/chat\/completions: giving up after 3 attempts: fetch failed \(ECONNREFUSED\)/);
  assert.equal(judge.counters().retries, 2);
});
