/**
 * `--reward-source judge:openai:URL`: an LLM behind any OpenAI-compatible chat endpoint (a local `selfplay serve`,
 * vLLM, a llama.cpp server, a hosted API) scores every (query, answer) with a rubric prompt, by default the paper's
 * Box 3 (0..7, additive). R = score / 7, in [0, 1] like the verifier's. The HTTP client, its retries with backoff
 * and the on-disk judgement cache are shared with the eval judge (src/rewards/chat-client.ts, judgement-cache.ts):
 * a rerun or a resumed run asks the endpoint only for judgements it does not have. An output without a parseable
 * `<Score>` gets `fallback` and is counted (`reward/judge/parse_fail` in metrics.jsonl).
 */
import fs from 'node:fs';
import path from 'node:path';
import { InputError, JudgeError } from '../errors.ts';
import { fillJudgePrompt, JUDGE_PROMPT, parseJudgeScore } from '../prompts/paper.ts';
import type { RewardSource } from '../game/rollout.ts';
import { cacheKey, JudgementCache } from './judgement-cache.ts';
import { ChatClient, mapConcurrent, type ChatRequest } from './chat-client.ts';
import { JUDGE_MAX_SCORE } from '../rl/advantages.ts';

/** The judgement cache's file name in the run folder (when rewardCacheFile is not set). */
export const REWARD_CACHE_FILE = 'reward-judge-cache.jsonl';

/** `judge:openai:URL` -> the URL; null for any other reward source. */
export function judgeRewardUrl(spec: string): string | null {
  const m = /^judge:openai:(https?:\/\/.+)$/.exec(spec);
  return m ? m[1] : null;
}

export interface JudgeRewardOptions {
  /** Base URL of the endpoint (`http://host:port`, `.../v1` or the full `.../chat/completions`). */
  url: string;
  /** The judge model's name on the endpoint. */
  model: string;
  /** The rubric with `{instruction}` and `{response}`; must make the judge end with `<Score>n</Score>`, n in 0..7. */
  rubric: string;
  /** The judgement cache (JSON Lines), opened at the first scoring call so a failed probe leaves no file. */
  cacheFile: string;
  apiKey?: string;
  /** Requests in flight at once. */
  concurrency: number;
  /** Retries of a failed request (network error, timeout, 429, 5xx), with exponential backoff. */
  retries: number;
  /** First backoff delay in ms (doubles per retry). */
  baseDelayMs?: number;
  /** Per-request timeout in ms. */
  timeoutMs?: number;
  /** Completion budget of one judgement. */
  maxTokens: number;
  /** The score (0..7) of an output without a parseable `<Score>`. */
  fallback: number;
}

export class JudgeReward implements RewardSource {
  readonly name: string;
  private readonly client: ChatClient;
  private cache: JudgementCache | null = null;
  private last = { requests: 0, cached: 0, parseFailures: 0, judged: 0, retries: 0 };

  constructor(private readonly o: JudgeRewardOptions) {
    this.client = new ChatClient({ url: o.url, apiKey: o.apiKey, retries: o.retries, baseDelayMs: o.baseDelayMs, timeoutMs: o.timeoutMs });
    this.name = `judge:openai:${o.url}`;
  }

  /** The request for one (query, answer): the filled rubric as the only user turn, greedy. */
  request(query: string, answer: string, maxTokens = this.o.maxTokens): ChatRequest {
    return { model: this.o.model, messages: [{ role: 'user', content: fillJudgePrompt(query, answer, this.o.rubric) }], temperature: 0, max_tokens: maxTokens };
  }

  /**
   * One cheap request before any model is loaded, so a wrong URL, a refused model name or an endpoint that does
   * not speak the chat-completions protocol stops the run at start with one line (JudgeError), not after compute.
   */
  async probe(timeoutMs = 30_000): Promise<void> {
    const client = new ChatClient({ url: this.o.url, apiKey: this.o.apiKey, retries: 1, baseDelayMs: 500, timeoutMs });
    try {
      await client.complete(this.request('Say hello.', 'Hello.', 8));
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      throw new JudgeError(`--reward-source ${this.name} (model "${this.o.model}"): the reward judge does not answer: ${why}`);
    }
  }

  async score(queries_N: readonly string[], answers_N_G: readonly string[][]): Promise<number[][]> {
    const requestsBefore = this.client.requests;
    const retriesBefore = this.client.retries;
    const items = answers_N_G.flatMap((answers, i) => answers.map((a) => this.request(queries_N[i], a)));
    const cache = (this.cache ??= new JudgementCache(this.o.cacheFile));
    let cached = 0;
    let parseFailures = 0;
    const scores = await mapConcurrent(items, this.o.concurrency, async (req) => {
      const key = cacheKey(req);
      let text = cache.get(key);
      if (text === undefined) {
        text = await this.client.complete(req);
        cache.put(key, text);
      } else cached++;
      const s = parseJudgeScore(text).score;
      if (s === null) parseFailures++;
      return (s ?? this.o.fallback) / JUDGE_MAX_SCORE;
    });
    this.last = { requests: this.client.requests - requestsBefore, cached, parseFailures, judged: items.length, retries: this.client.retries - retriesBefore };
    let k = 0;
    return answers_N_G.map((answers) => answers.map(() => scores[k++]));
  }

  /** The last scoring call's counters, for metrics.jsonl. */
  metrics(): Record<string, number> {
    const l = this.last;
    return {
      'reward/judge/requests': l.requests,
      'reward/judge/cached': l.cached,
      'reward/judge/retries': l.retries,
      'reward/judge/parse_fail': l.judged ? l.parseFailures / l.judged : 0,
    };
  }
}

/** The rubric: the file's text, or the paper's Box 3; a file without both placeholders is refused. */
export function readRubric(file: string | null): string {
  if (file === null) return JUDGE_PROMPT;
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new InputError(`${file}: cannot read the reward rubric (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  for (const p of ['{instruction}', '{response}']) {
    if (!text.includes(p)) throw new InputError(`${file}: the reward rubric has no ${p} placeholder: the judge would not see the interaction`);
  }
  return text;
}

/** What the judge reward reads from the run config. */
export interface JudgeRewardConfig {
  rewardSource: string;
  rewardModelName: string | null;
  rewardRubricFile: string | null;
  rewardConcurrency: number;
  rewardRetries: number;
  rewardMaxTokens: number;
  rewardCacheFile: string | null;
  rewardParseFallback: number;
  out: string;
}

/** The judge reward of a `judge:openai:URL` config (API key from OPENAI_API_KEY, never saved); null otherwise. */
export function judgeRewardFromConfig(c: JudgeRewardConfig): JudgeReward | null {
  const url = judgeRewardUrl(c.rewardSource);
  if (url === null) return null;
  if (!c.rewardModelName) throw new InputError(`--reward-source ${c.rewardSource} needs --reward-model-name NAME (the judge model's name on that endpoint)`);
  return new JudgeReward({
    url,
    model: c.rewardModelName,
    rubric: readRubric(c.rewardRubricFile),
    cacheFile: c.rewardCacheFile ?? path.join(c.out, REWARD_CACHE_FILE),
    apiKey: process.env.OPENAI_API_KEY || undefined,
    concurrency: c.rewardConcurrency,
    retries: c.rewardRetries,
    maxTokens: c.rewardMaxTokens,
    fallback: c.rewardParseFallback,
  });
}
