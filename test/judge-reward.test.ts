/**
 * `--reward-source judge:openai:URL`: the reward source against a scripted in-process endpoint (scores, scaling,
 * parse failures, cache, retries, concurrency), config checks, one-line errors for an unreachable or malformed
 * endpoint at start (the run folder untouched), and end to end: training against a real `selfplay serve` child
 * process serving models/default, whose Box 3 judgements become the rewards.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { runSettings } from '../src/train/settings.ts';
import { cacheKey } from '../src/rewards/judgement-cache.ts';
import { JUDGE_PROMPT, parseJudgeScore } from '../src/prompts/paper.ts';
import { resolveConfig } from '../src/rl/config.ts';
import { JudgeReward, judgeRewardUrl, REWARD_CACHE_FILE } from '../src/rewards/judge-reward.ts';
import { Runtime } from '../src/runtime/runtime.ts';
import { train } from '../src/train/lsp.ts';
import { readJsonl } from '../src/train/run-folder.ts';
import { tinyWorldModel } from './helpers/tiny-world-model.ts';

const root = path.join(import.meta.dirname, '..');
const DEFAULT_MODEL = path.join(root, 'models', 'default');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'judge-reward-'));

/** A scripted OpenAI-compatible endpoint: the reply to a prompt is `reply(prompt, n)` (n = request number). */
interface Scripted {
  url: string;
  prompts: string[];
  maxInFlight: number;
  close: () => Promise<void>;
}
async function scripted(reply: (prompt: string, n: number) => { status: number; body: string }): Promise<Scripted> {
  const s: Omit<Scripted, 'url' | 'close'> = { prompts: [], maxInFlight: 0 };
  let inFlight = 0;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      inFlight++;
      s.maxInFlight = Math.max(s.maxInFlight, inFlight);
      const prompt = JSON.parse(body).messages[0].content as string;
      s.prompts.push(prompt);
      const r = reply(prompt, s.prompts.length);
      setTimeout(() => {
        inFlight--;
        res.writeHead(r.status, { 'content-type': 'application/json' }).end(r.body);
      }, 5);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  return Object.assign(s, { url, close: () => new Promise<void>((resolve) => server.close(() => resolve())) });
}
const completion = (content: string) => ({ status: 200, body: JSON.stringify({ choices: [{ message: { role: 'assistant', content } }] }) });

const servers: Scripted[] = [];
after(async () => {
  for (const s of servers) await s.close();
});

function judgeReward(url: string, over: Partial<ConstructorParameters<typeof JudgeReward>[0]> = {}) {
  return new JudgeReward({ url, model: 'j', rubric: JUDGE_PROMPT, cacheFile: path.join(fs.mkdtempSync(path.join(tmp, 'c-')), 'cache.jsonl'), concurrency: 3, retries: 2, baseDelayMs: 1, maxTokens: 64, fallback: 0, ...over });
}

test('judge:openai:URL is parsed from the reward source spec', () => {
  assert.equal(judgeRewardUrl('judge:openai:http://127.0.0.1:8000/v1'), 'http://127.0.0.1:8000/v1');
  assert.equal(judgeRewardUrl('judge:openai:ftp://x'), null);
  assert.equal(judgeRewardUrl('verifier'), null);
});

test('scores: <Score>n</Score> / 7 per answer, in group shape; unparseable -> fallback, counted; cache; bounded concurrency', async () => {
  // the score is the answer's length (0..7), except answers "?" which get no score at all
  const s = await scripted((prompt) => {
    const answer = /<Response>([^<]*)<\/Response>/.exec(prompt)![1];
    return completion(answer === '?' ? 'I cannot say.' : `Fine. <Calculation>0=0</Calculation> <Score>${answer.length}</Score>`);
  });
  servers.push(s);
  const judge = judgeReward(s.url, { fallback: 2 });
  const answers = [['a', 'abc', '?'], ['abcdefg', '', 'ab']];
  const R = await judge.score(['q1', 'q2'], answers);
  assert.deepEqual(R, [[1 / 7, 3 / 7, 2 / 7], [1, 0, 2 / 7]]);
  assert.deepEqual(judge.metrics(), { 'reward/judge/requests': 6, 'reward/judge/cached': 0, 'reward/judge/retries': 0, 'reward/judge/parse_fail': 1 / 6 });
  assert.ok(s.maxInFlight <= 3 && s.maxInFlight >= 2, `in flight at once: ${s.maxInFlight}`);
  assert.ok(s.prompts[0].startsWith(JUDGE_PROMPT.slice(0, 60)) && s.prompts.some((p) => p.includes('<Instruction>q2</Instruction>')), 'Box 3 filled');
  const again = await judge.score(['q1', 'q2'], answers);
  assert.deepEqual(again, R);
  assert.equal(judge.metrics()['reward/judge/requests'], 0);
  assert.equal(judge.metrics()['reward/judge/cached'], 6);
  assert.equal(s.prompts.length, 6, 'the second call was answered from the cache');
});

test('retries: 503 twice then an answer; a 4xx is one error naming the endpoint and status', async () => {
  const flaky = await scripted((_p, n) => (n <= 2 ? { status: 503, body: '{"error": {"message": "busy"}}' } : completion('<Score>7</Score>')));
  const refusing = await scripted(() => ({ status: 404, body: '{"error": {"message": "model x not found"}}' }));
  servers.push(flaky, refusing);
  const judge = judgeReward(flaky.url);
  assert.deepEqual(await judge.score(['q'], [['a']]), [[1]]);
  assert.equal(judge.metrics()['reward/judge/retries'], 2);
  await assert.rejects(judgeReward(refusing.url).score(['q'], [['a']]), /chat\/completions: HTTP 404: model x not found/);
});

test('config: judge:openai needs rewardModelName; judge-only fields are refused with another reward source', () => {
  assert.throws(() => resolveConfig({ rewardSource: 'judge:openai:http://h:1' }), /rewardSource judge:openai:http:\/\/h:1 needs rewardModelName/);
  assert.throws(() => resolveConfig({ rewardModelName: 'x' }), /rewardModelName is only read with rewardSource judge:openai:URL/);
  assert.throws(() => resolveConfig({ rewardSource: 'judge:http://h' }), /expected 'verifier', 'reward-model:DIR' or 'judge:openai:/);
  const c = resolveConfig({ rewardSource: 'judge:openai:http://h:1/v1', rewardModelName: 'm', out: '/tmp/x' });
  assert.equal(c.rewardConcurrency, 4);
  const rubric = path.join(tmp, 'rubric.txt');
  fs.writeFileSync(rubric, 'Rate {instruction} only.');
  assert.throws(() => runSettings({ ...c, rewardRubricFile: rubric }, new Runtime({ threads: 1 })), /rubric\.txt: the reward rubric has no \{response\} placeholder/);
});

/** The CLI as a child process (asynchronous: the scripted endpoints live in this process's event loop). */
function selfplay(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [path.join(root, 'bin', 'selfplay.js'), ...args], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 60_000 });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stderr })));
}

test('an unreachable or malformed endpoint: one line at start, nothing written to the run folder', async () => {
  const html = await scripted(() => ({ status: 200, body: '<html>not an API</html>' }));
  servers.push(html);
  const closed = http.createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const deadPort = (closed.address() as AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  const cases: [string, RegExp][] = [
    [`http://127.0.0.1:${deadPort}`, /error: --reward-source judge:openai:http:\/\/127\.0\.0\.1:\d+ \(model "m"\): the reward judge does not answer: .*giving up after 2 attempts: .*ECONNREFUSED/],
    [html.url, /error: --reward-source judge:openai:.* the reward judge does not answer: .*response is not JSON: <html>not an API/],
  ];
  for (const [url, message] of cases) {
    const out = path.join(tmp, `run-${cases.findIndex((c) => c[0] === url)}`);
    const r = await selfplay(['train', '--reward-source', `judge:openai:${url}`, '--reward-model-name', 'm', '--out', out, '--quiet', '--threads', '1']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
    assert.ok(!fs.existsSync(out), `nothing written: ${fs.existsSync(out) ? fs.readdirSync(out).join(', ') : ''}`);
  }
});

/** `selfplay serve --model models/default` as a child process on loopback; stopped in after(). */
let served: { child: ReturnType<typeof spawn>; url: Promise<string>; exited: Promise<number | null>; log: () => string } | undefined;
before(() => {
  const child = spawn(process.execPath, [path.join(root, 'bin', 'selfplay.js'), 'serve', '--model', DEFAULT_MODEL, '--name', 'judge', '--port', '0', '--threads', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  const url = new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      stdout += d;
      const m = /at (http:\/\/\S+)/.exec(stdout);
      if (m) resolve(m[1]);
    });
    exited.then(() => reject(new Error(`serve exited: ${stderr}`)));
    setTimeout(() => reject(new Error('serve did not start in 60 s')), 60_000).unref();
  });
  url.catch(() => {});
  child.stderr!.on('data', (d) => (stderr += d));
  served = { child, url, exited, log: () => stderr };
});
after(async () => {
  if (!served) return;
  served.child.kill('SIGTERM');
  const killer = setTimeout(() => served!.child.kill('SIGKILL'), 20_000);
  await served.exited;
  clearTimeout(killer);
});

test('end to end: an LSP-Zero run rewarded by models/default behind selfplay serve (Box 3, 0-7 -> [0, 1])', async () => {
  const url = await served!.url;
  const out = path.join(tmp, 'e2e');
  const c = resolveConfig(
    { model: tinyWorldModel(), out, iterations: 1, N: 2, G: 2, mode: 'lsp-zero', quiet: true, seed: 5, rewardSource: `judge:openai:${url}`, rewardModelName: 'judge', rewardMaxTokens: 96, rewardConcurrency: 4 },
    { sampling: { challenger: { maxTokens: 8 }, solver: { maxTokens: 6 } } },
  );
  const s = runSettings(c, new Runtime({ threads: 1 }), 1);
  await s.reward!.probe!();
  assert.ok(await train(s));
  const [m] = readJsonl(path.join(out, 'metrics.jsonl'));
  assert.equal(m['reward/judge/requests'] as number + (m['reward/judge/cached'] as number), 4);
  const parseFail = m['reward/judge/parse_fail'] as number;
  // the rewards are the judge's own texts read back: score / 7, or 0 where <Score> did not parse
  const cache = new Map(readJsonl(path.join(out, REWARD_CACHE_FILE)).map((r) => [r.key as string, r.value as string]));
  const judge = s.reward as JudgeReward;
  let failures = 0;
  for (const sample of readJsonl(path.join(out, 'samples.jsonl'))) {
    for (const a of sample.answers as { answer: string; reward: number }[]) {
      const text = cache.get(cacheKey(judge.request(sample.query as string, a.answer.trim())));
      assert.ok(text !== undefined, 'every judgement is cached');
      const score = parseJudgeScore(text).score;
      if (score === null) failures++;
      assert.equal(a.reward, (score ?? 0) / 7, text);
    }
  }
  assert.equal(parseFail, failures / 4);
  assert.ok(failures < 4, `the default model's judge wrote a <Score> at least once; parse failures ${failures}/4`);
  assert.ok(/POST \/v1\/chat\/completions 200/.test(served!.log()), 'the server answered');
});
