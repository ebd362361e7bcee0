/**
 * What the server checks before it spends work on a request: the content type, the body size (from
 * Content-Length before a byte is read, then while reading), and whether the prompt's text could fit the
 * model's context at all (before the chat template is tokenized).
 */
import type http from 'node:http';
import type { Tokenizer } from '../model/tokenizer.ts';
import { brief, oneLine } from '../util/brief.ts';
import { RequestError } from './protocol.ts';

/** Default largest request body: a full 128k-token context of text fits several times over. */
export const DEFAULT_MAX_BODY_BYTES = 2 << 20;

/** 415 unless the Content-Type is application/json (any charset parameter must be utf-8). */
export function checkContentType(header: string | undefined): void {
  const [type, ...params] = (header ?? '').split(';').map((s) => s.trim().toLowerCase());
  const charset = params.find((p) => p.startsWith('charset='))?.slice('charset='.length).replace(/"/g, '');
  if (type === 'application/json' && (charset === undefined || charset === 'utf-8' || charset === 'utf8')) return;
  const got = header === undefined ? 'none' : brief(header);
  throw new RequestError(`content-type: must be application/json, got ${got}`, 'content-type', 415, 'unsupported_media_type');
}

/** A refused body up to this size is still read (and dropped) so that the client gets the 413; beyond, the connection closes. */
export const DRAIN_BYTES = 64 << 20;

const tooLarge = (maxBytes: number, size: string) =>
  new RequestError(`body: ${size} is larger than the limit of ${maxBytes} bytes`, 'body', 413, 'request_too_large');

/**
 * Reads and parses the JSON body; 413 as soon as Content-Length or the bytes read pass `maxBytes`. The rest of a
 * refused body is read and dropped (node:http drains it), so the client still receives the 413 instead of a reset.
 */
export function readJsonBody(req: http.IncomingMessage, maxBytes: number): Promise<unknown> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) return Promise.reject(tooLarge(maxBytes, `Content-Length ${declared}`));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      const refused = size > maxBytes;
      size += chunk.length;
      if (refused) {
        if (size > DRAIN_BYTES) req.destroy(); // dropped so far; a client that keeps sending is cut off
        return;
      }
      if (size <= maxBytes) chunks.push(chunk);
      else {
        chunks.length = 0;
        reject(tooLarge(maxBytes, `the body (${size}+ bytes)`));
      }
    });
    req.on('error', reject);
    req.on('end', () => {
      if (size > maxBytes) return;
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch (e) {
        reject(new RequestError(`body: invalid JSON (${oneLine((e as Error).message).slice(0, 200)})`, 'body'));
      }
    });
  });
}

/**
 * The most UTF-16 characters one token of `tokenizer` can stand for: its longest vocabulary entry (a byte-level
 * entry's characters are bytes, each at least one character of text). A text longer than context x this cannot fit
 * (a normalizer that deletes characters could make such a text fit; it is refused all the same).
 */
export function longestTokenChars(tokenizer: Tokenizer): number {
  let longest = 1;
  for (let id = 0; id < tokenizer.vocabSize; id++) longest = Math.max(longest, tokenizer.idToToken(id)?.length ?? 0);
  return longest;
}

/** 400 context_length_exceeded when `chars` characters of `what` cannot fit `context` tokens. */
export function checkFits(chars: number, what: string, context: number, tokenChars: number): void {
  if (chars <= context * tokenChars) return;
  throw new RequestError(
    `messages: ${what} of ${chars} characters cannot fit the model's context of ${context} tokens (one token covers at most ${tokenChars} characters)`,
    'messages',
    400,
    'context_length_exceeded',
  );
}
