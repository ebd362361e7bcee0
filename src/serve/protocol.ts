/**
 * The OpenAI chat-completions request, checked field by field. Every bad field is a RequestError (HTTP 400) that
 * names the field, returned in OpenAI's error shape `{"error": {"message", "type", "param", "code"}}`.
 */
import { InputError } from '../errors.ts';
import { brief } from '../util/brief.ts';
import type { ChatMessage } from '../model/tokenizer.ts';

/** A request the server refuses; `status` and `param` go into the HTTP response. */
export class RequestError extends InputError {
  override name = 'RequestError';
  constructor(message: string, readonly param: string | null = null, readonly status = 400, readonly code: string | null = null) {
    super(message);
  }
}

export interface CompletionRequest {
  messages: ChatMessage[];
  /** OpenAI's default is 1. */
  temperature: number;
  topP: number;
  /** Completion budget; undefined = the server's default (capped by the context left). */
  maxTokens?: number;
  /** With a seed (and temperature > 0) the request is sampled in a batch of its own, so it is reproducible. */
  seed?: number;
  /** Choices to sample for the one prompt. */
  n: number;
  /** Up to 4 strings; the text ends before the first one produced. */
  stop: string[];
  stream: boolean;
}

/** Most choices one request may ask for. */
export const MAX_N = 16;

const ROLES = new Set(['system', 'developer', 'user', 'assistant', 'tool']);

/** The largest integer a JSON number (an IEEE double) carries exactly: 2^53 - 1. */
const MAX_EXACT = Number.MAX_SAFE_INTEGER;

/** What a number field accepts: [min, max] (min excluded with `minExclusive`), integers only with `integer`. */
interface NumberRule {
  min: number;
  max: number;
  integer?: boolean;
  minExclusive?: boolean;
  /** The rule in words, e.g. "a number in [0, 2]". */
  text: string;
}

/** The number in `body[field]` checked against `rule`; each way to fail has its own reason. Absent/null: undefined. */
function numberField(body: Record<string, unknown>, field: string, rule: NumberRule): number | undefined {
  const v = body[field];
  if (v === undefined || v === null) return undefined;
  const fail = (why: string) => new RequestError(`${field}: must be ${rule.text}; ${why}`, field);
  if (typeof v !== 'number') throw fail(`got ${typeof v === 'string' ? 'the string ' : ''}${brief(v)}`);
  if (!Number.isFinite(v)) throw fail(`the number is out of range: it overflows a double (reads as ${v}, not finite)`);
  if (rule.integer && !Number.isInteger(v)) throw fail(`got ${v}, not an integer`);
  if (Math.abs(v) > MAX_EXACT && rule.integer) {
    throw fail(`the number is out of range: its magnitude is above 2^53 - 1 = ${MAX_EXACT}, beyond which JSON integers lose precision`);
  }
  if (v < rule.min || v > rule.max || (rule.minExclusive && v === rule.min)) throw fail(`${v} is out of range`);
  return v;
}

/** Text content: a string, or a list of `{type: "text", text}` parts (joined). */
function messageContent(v: unknown, where: string): string {
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) {
    return v
      .map((part, j) => {
        const p = (typeof part === 'object' && part !== null ? part : {}) as { type?: unknown; text?: unknown };
        if (p?.type !== 'text' || typeof p.text !== 'string') {
          throw new RequestError(`${where}.content[${j}]: only {"type": "text", "text": ...} parts are supported`, `${where}.content`);
        }
        return p.text;
      })
      .join('');
  }
  throw new RequestError(`${where}.content: must be a string or a list of text parts`, `${where}.content`);
}

function parseMessages(v: unknown): ChatMessage[] {
  if (!Array.isArray(v) || v.length === 0) throw new RequestError('messages: must be a non-empty list of {role, content}', 'messages');
  return v.map((m, i) => {
    const where = `messages[${i}]`;
    if (typeof m !== 'object' || m === null) throw new RequestError(`${where}: must be an object {role, content}`, where);
    const { role, content } = m as { role?: unknown; content?: unknown };
    if (typeof role !== 'string' || !ROLES.has(role)) {
      throw new RequestError(`${where}.role: must be one of ${[...ROLES].join(', ')}, got ${brief(role)}`, `${where}.role`);
    }
    return { role: role === 'developer' ? 'system' : role, content: messageContent(content, where) };
  });
}

function parseStop(v: unknown): string[] {
  if (v === undefined || v === null) return [];
  const list = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(list) || list.length > 4 || !list.every((s) => typeof s === 'string' && s !== '')) {
    throw new RequestError('stop: must be a non-empty string or a list of up to 4 of them', 'stop');
  }
  return list as string[];
}

/** Checks a parsed JSON body against the fields the server supports; `servedModel` is the one model it serves. */
export function parseCompletionRequest(body: unknown, servedModel: string): CompletionRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new RequestError(`body: must be a JSON object, got ${brief(body)}`, 'body');
  const b = body as Record<string, unknown>;
  if (b.model !== undefined && b.model !== servedModel) {
    throw new RequestError(`model: this server serves "${servedModel}", not ${brief(b.model)}`, 'model', 404, 'model_not_found');
  }
  const tokens: NumberRule = { min: 1, max: MAX_EXACT, integer: true, text: 'a positive integer' };
  const maxTokens = numberField(b, 'max_completion_tokens', tokens) ?? numberField(b, 'max_tokens', tokens);
  if (b.stream !== undefined && b.stream !== null && typeof b.stream !== 'boolean') {
    throw new RequestError(`stream: must be a boolean, got ${brief(b.stream)}`, 'stream');
  }
  return {
    messages: parseMessages(b.messages),
    temperature: numberField(b, 'temperature', { min: 0, max: 2, text: 'a number in [0, 2]' }) ?? 1,
    topP: numberField(b, 'top_p', { min: 0, max: 1, minExclusive: true, text: 'a number in (0, 1]' }) ?? 1,
    maxTokens,
    seed: numberField(b, 'seed', { min: -MAX_EXACT, max: MAX_EXACT, integer: true, text: 'an integer of at most 2^53 - 1 in magnitude' }),
    n: numberField(b, 'n', { min: 1, max: MAX_N, integer: true, text: `an integer in [1, ${MAX_N}]` }) ?? 1,
    stop: parseStop(b.stop),
    stream: b.stream === true,
  };
}

/** OpenAI's error body. */
export function errorBody(message: string, type: string, param: string | null = null, code: string | null = null) {
  return { error: { message, type, param, code } };
}
