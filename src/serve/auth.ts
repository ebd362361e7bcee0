/**
 * Who may talk to a server: loopback addresses need nothing; any other bind address needs an API key, and a key,
 * once set, is checked on every request in constant time. Shared by `selfplay serve` (chat) and
 * `selfplay serve --tinker`.
 *
 * The key comes in `X-API-Key: <key>` (what the Tinker Python SDK sends) or `Authorization: Bearer <key>` (what
 * OpenAI clients send). Both sides are hashed with SHA-256 first, so the comparison (crypto.timingSafeEqual) takes
 * the same time whatever the length or content of the guess.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type http from 'node:http';
import { isIP } from 'node:net';
import { InputError } from '../errors.ts';

/** True for addresses only this machine can reach: 127.0.0.0/8, ::1, localhost. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h);
  return mapped !== null && mapped[1].startsWith('127.');
}

/** Refuses (one line) to listen beyond loopback without a key: the server can change and write weights. */
export function checkBindSafety(host: string, apiKey: string | undefined, flag = '--host'): void {
  if (apiKey !== undefined && apiKey.length === 0) throw new InputError('--api-key: empty; give a key (or leave the flag out on a loopback address)');
  if (isLoopback(host) || apiKey !== undefined) return;
  throw new InputError(`${flag} ${host}: not a loopback address, so the server would be open to the network; add --api-key KEY (clients send it as X-API-Key or Authorization: Bearer)`);
}

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** The key a request carries: X-API-Key, else the token of `Authorization: Bearer`. */
export function presentedKey(req: http.IncomingMessage): string | undefined {
  const x = req.headers['x-api-key'];
  if (typeof x === 'string') return x;
  const auth = req.headers.authorization;
  const m = typeof auth === 'string' ? /^Bearer\s+(.+)$/i.exec(auth.trim()) : null;
  return m ? m[1] : undefined;
}

/**
 * A request check for `apiKey`: always true without a key; otherwise true only for a request carrying the key.
 * The expected hash is computed once; every request costs one hash and one constant-time comparison.
 */
export function apiKeyCheck(apiKey: string | undefined): (req: http.IncomingMessage) => boolean {
  if (apiKey === undefined) return () => true;
  const want = sha256(apiKey);
  return (req) => {
    const got = presentedKey(req);
    return timingSafeEqual(sha256(got ?? ''), want) && got !== undefined;
  };
}
