/**
 * A minimal client for OpenAI-compatible chat completions (Node's global fetch): one request -> the first
 * choice's text. Network errors, timeouts, 429 and 5xx are retried with exponential backoff (honouring a
 * Retry-After header); any other failure is a JudgeError naming the URL, the status and the server's message.
 */
import { JudgeError } from '../errors.ts';
import { retryAfterMs, sleep } from '../util/concurrent.ts';

export { mapConcurrent } from '../util/concurrent.ts';

export interface ChatClientOptions {
  /** Base URL: `http://host:port`, `.../v1`, or the full `.../v1/chat/completions`. */
  url: string;
  apiKey?: string;
  /** Retries after the first attempt (default 5). */
  retries?: number;
  /** First backoff delay; doubles each retry, with jitter (default 1000 ms). */
  baseDelayMs?: number;
  /** Cap on one backoff delay, also on Retry-After (default 60 s). */
  maxDelayMs?: number;
  /** Per-request timeout (default 300 s). */
  timeoutMs?: number;
}

export interface ChatRequest {
  model: string;
  messages: { role: string; content: string }[];
  temperature: number;
  max_tokens: number;
}

/** `http://h:p` -> `http://h:p/v1/chat/completions`; `.../v1` gets `/chat/completions`; a full URL stays. */
export function chatCompletionsUrl(url: string): string {
  const base = url.replace(/\/+$/, '');
  if (base.endsWith('/chat/completions')) return base;
  return base.endsWith('/v1') ? `${base}/chat/completions` : `${base}/v1/chat/completions`;
}

/** A failure worth retrying (the server may recover). */
class Transient extends Error {
  constructor(message: string, readonly retryAfterMs?: number) {
    super(message);
  }
}

export class ChatClient {
  readonly endpoint: string;
  /** Requests answered, and attempts that were retried. */
  requests = 0;
  retries = 0;

  constructor(private readonly opts: ChatClientOptions) {
    this.endpoint = chatCompletionsUrl(opts.url);
  }

  /** The first choice's message content. */
  async complete(body: ChatRequest): Promise<string> {
    const retries = this.opts.retries ?? 5;
    for (let attempt = 0; ; attempt++) {
      try {
        const text = await this.attempt(body);
        this.requests++;
        return text;
      } catch (e) {
        if (!(e instanceof Transient)) throw e;
        if (attempt >= retries) throw new JudgeError(`${this.endpoint}: giving up after ${attempt + 1} attempts: ${e.message}`);
        this.retries++;
        await sleep(this.backoff(attempt, e.retryAfterMs));
      }
    }
  }

  private backoff(attempt: number, retryAfterMs?: number): number {
    const max = this.opts.maxDelayMs ?? 60_000;
    if (retryAfterMs !== undefined) return Math.min(max, retryAfterMs);
    const exp = (this.opts.baseDelayMs ?? 1000) * 2 ** attempt;
    return Math.min(max, exp * (0.5 + Math.random() / 2));
  }

  private async attempt(body: ChatRequest): Promise<string> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.opts.apiKey) headers.authorization = `Bearer ${this.opts.apiKey}`;
    let res: Response;
    let text: string;
    try {
      res = await fetch(this.endpoint, {
        method: 'POST',
        headers,
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 300_000),
      });
      text = await res.text();
    } catch (e) {
      const cause = (e as { cause?: { code?: string } }).cause?.code;
      throw new Transient(`${(e as Error).message}${cause ? ` (${cause})` : ''}`);
    }
    if (res.status === 429 || res.status >= 500) throw new Transient(`HTTP ${res.status}: ${snippet(text)}`, retryAfterMs(res));
    if (!res.ok) throw new JudgeError(`${this.endpoint}: HTTP ${res.status}: ${snippet(text)}`);
    return firstChoiceContent(text, this.endpoint);
  }
}

/** The server's error message when it sent OpenAI's `{"error": {"message"}}`, else the start of the body; on one line. */
function snippet(text: string): string {
  let shown = text;
  try {
    const message = (JSON.parse(text) as { error?: { message?: unknown } } | null)?.error?.message;
    if (typeof message === 'string') shown = message;
  } catch {
    // not JSON
  }
  shown = shown.replace(/\s+/g, ' ');
  return shown.length > 300 ? `${shown.slice(0, 300)}...` : shown;
}

/** The text of the first choice of an OpenAI chat-completion response body; anything else is a JudgeError. */
export function firstChoiceContent(text: string, endpoint: string): string {
  let json: { choices?: { message?: { content?: unknown } }[] } | null;
  try {
    json = JSON.parse(text);
  } catch {
    throw new JudgeError(`${endpoint}: response is not JSON: ${snippet(text)}`);
  }
  const content = json?.choices?.[0]?.message?.content; // `null` is valid JSON
  if (typeof content !== 'string') throw new JudgeError(`${endpoint}: response has no choices[0].message.content: ${snippet(text)}`);
  return content;
}
