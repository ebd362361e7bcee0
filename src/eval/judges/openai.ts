/**
 * The `openai:URL` judge: an LLM behind any OpenAI-compatible chat endpoint compares two answers. Every pair is
 * judged twice, with the model's answer shown first and then second, and the two verdicts are combined
 * (combineOrders: agreement stands, disagreement is a tie) to cancel position bias. Requests run with bounded
 * concurrency; each raw judgement is cached on disk (src/rewards/judgement-cache.ts) under a hash of the judge model, the messages and
 * the sampling settings, so a rerun or a resumed run asks only for what it does not have.
 */
import type { Preference } from '../stats.ts';
import { cacheKey, type JudgementCache } from '../../rewards/judgement-cache.ts';
import { ChatClient, mapConcurrent, type ChatClientOptions, type ChatRequest } from '../../rewards/chat-client.ts';
import { combineOrders, type JudgePair, type PairJudge } from './types.ts';

const SYSTEM_PROMPT = 'You compare answers written by AI assistants. You are careful, fair and brief.';

/** The pairwise prompt: instruction and two answers in tags, criteria, and a fixed last line to parse. */
export function pairwisePrompt(instruction: string, first: string, second: string): string {
  return [
    'Two assistants received the same instruction. Decide which answer serves the person who wrote it better.',
    'Weigh, in this order: is it correct; does it do what was asked, completely and without padding; is it clear.',
    'Length, position and tone are not merits in themselves. If neither answer is better, call it a tie.',
    '',
    `<instruction>\n${instruction}\n</instruction>`,
    '',
    `<answer_1>\n${first}\n</answer_1>`,
    '',
    `<answer_2>\n${second}\n</answer_2>`,
    '',
    'Give your reasons in at most three sentences. Then end with exactly one line: "Verdict: 1", "Verdict: 2" or "Verdict: tie".',
  ].join('\n');
}

/** Which answer the judge's text prefers: the last "Verdict: 1|2|tie" line, or a bare "1", "2", "tie"; else null. */
export function parseVerdict(text: string): 1 | 2 | 'tie' | null {
  const matches = [...text.matchAll(/verdict\W{0,4}(1|2|tie)\b/gi)];
  const last = matches.length > 0 ? matches[matches.length - 1][1] : text.trim().replace(/[.*"]/g, '');
  const v = last.toLowerCase();
  return v === '1' ? 1 : v === '2' ? 2 : v === 'tie' ? 'tie' : null;
}

/** A verdict about (answer_1, answer_2) as a preference for the model, given which slot the model's answer was in. */
function preferenceOf(verdict: 1 | 2 | 'tie' | null, modelSlot: 1 | 2): Preference {
  if (verdict === null || verdict === 'tie') return 0.5;
  return verdict === modelSlot ? 1 : 0;
}

export interface OpenAIJudgeOptions extends ChatClientOptions {
  /** The judge model's name on the endpoint. */
  model: string;
  cache: JudgementCache;
  /** Requests in flight at once (default 4). */
  concurrency?: number;
  /** Completion budget of one judgement (default 512). */
  maxTokens?: number;
}

export class OpenAIJudge implements PairJudge {
  readonly name: string;
  private readonly client: ChatClient;
  private cached = 0;
  private unparsed = 0;
  private disagreements = 0;

  constructor(private readonly opts: OpenAIJudgeOptions) {
    this.client = new ChatClient(opts);
    this.name = `openai:${this.client.endpoint} (${opts.model})`;
  }

  async judge(pairs: readonly JudgePair[], onProgress?: (done: number) => void): Promise<Preference[]> {
    const tasks = pairs.flatMap((p) => [
      { pair: p, modelSlot: 1 as const, prompt: pairwisePrompt(p.prompt.instruction, p.model, p.baseline) },
      { pair: p, modelSlot: 2 as const, prompt: pairwisePrompt(p.prompt.instruction, p.baseline, p.model) },
    ]);
    let done = 0;
    const verdicts = await mapConcurrent(tasks, this.opts.concurrency ?? 4, async (task) => {
      const verdict = parseVerdict(await this.judgement(task.prompt));
      if (verdict === null) this.unparsed++;
      if (++done % 2 === 0) onProgress?.(done / 2);
      return preferenceOf(verdict, task.modelSlot);
    });
    return pairs.map((_, i) => {
      const [a, b] = [verdicts[2 * i], verdicts[2 * i + 1]];
      if (a !== b) this.disagreements++;
      return combineOrders(a, b);
    });
  }

  /** The judge's raw text for one prompt, from the cache or the endpoint (then cached). */
  private async judgement(prompt: string): Promise<string> {
    const request: ChatRequest = {
      model: this.opts.model,
      messages: [
        { role: 'system', content: SYSTEM_PROMPT },
        { role: 'user', content: prompt },
      ],
      temperature: 0,
      max_tokens: this.opts.maxTokens ?? 512,
    };
    const key = cacheKey(request);
    const hit = this.opts.cache.get(key);
    if (hit !== undefined) {
      this.cached++;
      return hit;
    }
    const text = await this.client.complete(request);
    this.opts.cache.put(key, text);
    return text;
  }

  counters(): Record<string, number> {
    return {
      requests: this.client.requests,
      retries: this.client.retries,
      cached: this.cached,
      unparsed: this.unparsed,
      order_disagreements: this.disagreements,
    };
  }
}
