/** `--judge` specs: `verifier`, `reward-model:DIR`, `openai:URL`; parsing and construction of the judge. */
import { InputError } from '../../errors.ts';
import type { Runtime } from '../../runtime/runtime.ts';
import { JudgementCache } from '../../rewards/judgement-cache.ts';
import { OpenAIJudge } from './openai.ts';
import { loadRewardModelJudge } from './reward-model.ts';
import type { PairJudge } from './types.ts';
import { VerifierJudge } from './verifier.ts';

export type JudgeSpec = { kind: 'verifier' } | { kind: 'reward-model'; dir: string } | { kind: 'openai'; url: string };

/** Parses `--judge`; without one, the world set defaults to the verifier and any other set is an error. */
export function parseJudgeSpec(judge: string | undefined, set: string): JudgeSpec {
  if (judge === undefined) {
    if (set === 'world') return { kind: 'verifier' };
    throw new InputError('--judge is required for a set other than world: reward-model:DIR or openai:URL');
  }
  if (judge === 'verifier') {
    if (set !== 'world') throw new InputError(`--judge verifier judges only --set world (the world's reward), not ${set}`);
    return { kind: 'verifier' };
  }
  const [kind, ...rest] = judge.split(':');
  const arg = rest.join(':');
  if (kind === 'reward-model' && arg) return { kind: 'reward-model', dir: arg };
  if (kind === 'openai' && /^https?:\/\/./.test(arg)) return { kind: 'openai', url: arg };
  throw new InputError(`--judge ${judge}: expected verifier, reward-model:DIR or openai:http(s)://HOST[:PORT][/v1]`);
}

export interface JudgeOptions {
  runtime: Runtime;
  /** openai: the judge model's name (required). */
  judgeModel?: string;
  /** openai: API key (else none is sent). */
  apiKey?: string;
  /** openai: judgement cache file. */
  cacheFile: string;
  /** openai: requests in flight at once. */
  concurrency?: number;
  /** openai: completion budget per judgement. */
  maxTokens?: number;
}

export async function makeJudge(spec: JudgeSpec, opts: JudgeOptions): Promise<PairJudge> {
  switch (spec.kind) {
    case 'verifier':
      return new VerifierJudge();
    case 'reward-model':
      return loadRewardModelJudge(spec.dir, opts.runtime);
    case 'openai': {
      if (!opts.judgeModel) throw new InputError(`--judge openai:${spec.url} needs --judge-model NAME (the model's name on that endpoint)`);
      const cache = new JudgementCache(opts.cacheFile);
      return new OpenAIJudge({
        url: spec.url,
        model: opts.judgeModel,
        apiKey: opts.apiKey,
        cache,
        concurrency: opts.concurrency,
        maxTokens: opts.maxTokens,
      });
    }
  }
}
