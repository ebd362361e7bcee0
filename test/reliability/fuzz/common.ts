/**
 * Shared pieces of the fast-check fuzz suite. Every parser's property says: for any input, the parser either
 * returns a value that meets its contract, or throws one of the project's typed errors (src/errors.ts) with a
 * one-line message; never a TypeError, RangeError, SyntaxError or any other exception.
 *
 * SELFPLAY_FUZZ_RUNS (default 100,000) is the total number of cases of the reliability suite, shared out by
 * SHARES; SELFPLAY_FUZZ_SEED fixes the seed (default: a fixed one, so a failure reproduces).
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SelfplayError } from '../../../src/errors.ts';

export const FUZZ_SEED = Number(process.env.SELFPLAY_FUZZ_SEED ?? 20261205);
export const TOTAL_RUNS = Number(process.env.SELFPLAY_FUZZ_RUNS ?? 100_000);

export type Target = 'safetensors' | 'gguf' | 'chat' | 'judge' | 'config' | 'http';

/** Each parser's share of TOTAL_RUNS (the slow ones, which write files or render templates, get less). */
export const SHARES: Record<Target, number> = { safetensors: 0.22, gguf: 0.05, chat: 0.1, judge: 0.2, config: 0.15, http: 0.28 };

/** One property of one parser; `weight` shares the parser's runs among its properties. */
export interface FuzzProperty {
  name: string;
  weight: number;
  run(numRuns: number, seed: number): Promise<void> | void;
}

/** Runs every property of a target with `total` cases shared by weight; returns the cases run. */
export async function runTarget(properties: readonly FuzzProperty[], total: number, seed = FUZZ_SEED): Promise<number> {
  const sum = properties.reduce((a, p) => a + p.weight, 0);
  let ran = 0;
  let weightSoFar = 0;
  for (const p of properties) {
    weightSoFar += p.weight;
    const n = Math.max(1, Math.round((total * weightSoFar) / sum) - ran); // the shares add up to `total` exactly
    await p.run(n, seed);
    ran += n;
  }
  return ran;
}

export const runsOf = (target: Target) => Math.max(1, Math.round(TOTAL_RUNS * SHARES[target]));

/** The fast-check parameters every property uses. */
export const params = (numRuns: number, seed: number): fc.Parameters<unknown> => ({ numRuns, seed, verbose: 1, includeErrorInReport: true });

/**
 * Calls `fn`; returns `{ value }` on success, `{ error }` when it threw one of the typed errors in `allowed`
 * (default: any SelfplayError) with a non-empty message of at most `maxLines` lines. Any other throw fails the case.
 */
export function typedOrValue<T>(fn: () => T, allowed: readonly (new (...a: never[]) => Error)[] = [SelfplayError], maxLines = 1): { value?: T; error?: Error } {
  try {
    return { value: fn() };
  } catch (e) {
    checkTyped(e, allowed, maxLines);
    return { error: e as Error };
  }
}

export async function typedOrValueAsync<T>(fn: () => Promise<T>, allowed: readonly (new (...a: never[]) => Error)[] = [SelfplayError], maxLines = 1): Promise<{ value?: T; error?: Error }> {
  try {
    return { value: await fn() };
  } catch (e) {
    checkTyped(e, allowed, maxLines);
    return { error: e as Error };
  }
}

function checkTyped(e: unknown, allowed: readonly (new (...a: never[]) => Error)[], maxLines: number): void {
  if (!allowed.some((cls) => e instanceof cls)) {
    const err = e as Error;
    assert.fail(`untyped ${err?.name ?? typeof e}: ${err?.message ?? String(e)}\n${err?.stack ?? ''}`);
  }
  const message = (e as Error).message;
  assert.ok(message.trim().length > 0, 'an error without a message');
  assert.ok(message.split('\n').length <= maxLines, `a message of ${message.split('\n').length} lines: ${message.slice(0, 500)}`);
}

/** JSON values with the awkward numbers JSON.parse can produce (overflow to Infinity, -0, 2^53 + 1, tiny). */
export const awkwardNumber = fc.oneof(
  fc.double(),
  fc.integer(),
  fc.constantFrom(Infinity, -Infinity, NaN, -0, 2 ** 53, 2 ** 53 + 2, -(2 ** 53) - 2, 1e308, 5e-324, 0.1, 1.5, 2 ** 31, 2 ** 32, 2 ** 64),
);

/** Strings that stress parsers: unicode, control characters, lone surrogates, long runs. */
export const awkwardString = fc.oneof(
  fc.string(),
  fc.string({ unit: 'grapheme' }),
  fc.string({ unit: 'binary' }),
  fc.constantFrom('', ' ', '\n', '\u0000', '\uD800', '\uFEFF', '__proto__', 'constructor', 'toString', '{{', '{%', '<Score>', '</Score>'),
  fc.string({ minLength: 0, maxLength: 3 }).map((s) => s.repeat(300)),
);

/** Any JSON-like value, with awkward numbers and strings in it. */
export const awkwardJson: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    awkwardNumber,
    awkwardString,
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(awkwardString, tie('value'), { maxKeys: 5, noNullPrototype: true }),
  ),
})).value;

/**
 * JSON text of `v` as a hostile client may write it: infinities as 1e999 (JSON.parse reads them back as
 * Infinity), NaN as 0 (JSON has no way to write it), everything else as JSON.stringify does.
 */
export function jsonText(v: unknown): string {
  if (typeof v === 'number') return Number.isNaN(v) ? '0' : v === Infinity ? '1e999' : v === -Infinity ? '-1e999' : Object.is(v, -0) ? '-0' : JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(jsonText).join(',')}]`;
  if (typeof v === 'object' && v !== null) return `{${Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}:${jsonText(x)}`).join(',')}}`;
  return JSON.stringify(v) ?? 'null';
}

/** What a server or loader sees: `v` written as JSON text and parsed back. */
export const viaJson = (v: unknown): unknown => JSON.parse(jsonText(v));
