/**
 * Verifier building blocks: partial-credit scores in [0,1] that give 1 only for the exact reference and never
 * reward moving away from it, and "corruptions" that move an answer one step further away (for judge data and for
 * the monotonicity tests).
 *
 * Position-wise scores: matches / max(len(reference), len(answer)). Substituting a matching unit, appending a unit
 * that does not match, or dropping the last unit of an answer that is not longer than the reference can only lower
 * the matches or raise the denominator, so these three moves never raise the score.
 */
import type { Rng } from '../util/rng.ts';
import { pick } from './random.ts';

/** Fraction of aligned units that agree: matches / max(len(ref), len(ans)); 1 iff the sequences are equal. */
export function positionalScore(ref: readonly string[], ans: readonly string[]): number {
  const n = Math.max(ref.length, ans.length);
  if (n === 0) return 1;
  let matches = 0;
  for (let i = 0; i < Math.min(ref.length, ans.length); i++) if (ref[i] === ans[i]) matches++;
  return matches / n;
}

/** Space-separated tokens of an answer; the empty answer has none. Doubled spaces yield empty tokens (mismatches). */
export function tokens(answer: string): string[] {
  return answer === '' ? [] : answer.split(' ');
}

/** Left-aligned character match (reverse, uppercase). */
export function charScore(reference: string, answer: string): number {
  return positionalScore([...reference], [...answer]);
}

/** Left-aligned match of space-separated tokens (sort, repeat). */
export function tokenScore(reference: string, answer: string): number {
  return positionalScore(tokens(reference), tokens(answer));
}

/** Right-aligned character match, units digit first (add): "1533" vs "1523" scores 3/4. */
export function digitScore(reference: string, answer: string): number {
  return positionalScore([...reference].reverse(), [...answer].reverse());
}

/** A canonical non-negative integer: digits without leading zeros. */
export const NATURAL_RE = /^(0|[1-9]\d*)$/;

/** A unit different from `avoid`, from `alphabet` (single characters). */
function otherChar(rng: Rng, alphabet: string, avoid: string | undefined): string {
  const choices = alphabet.split('').filter((c) => c !== avoid);
  return pick(rng, choices);
}

/**
 * One step away for positional answers given as unit arrays: substitute a matching unit, append a non-matching
 * unit, or drop the last unit when the answer is not longer than the reference. `mutate(unit)` must return a
 * different unit.
 */
function corruptUnits(
  ref: readonly string[],
  ans: string[],
  rng: Rng,
  mutate: (u: string) => string,
  fresh: (avoid?: string) => string,
): string[] {
  const matching = ans.map((u, i) => i).filter((i) => i < ref.length && ans[i] === ref[i]);
  const moves: (() => string[])[] = [() => [...ans, fresh(ref[ans.length])]];
  if (matching.length > 0) {
    moves.push(() => {
      const i = pick(rng, matching);
      const out = ans.slice();
      out[i] = mutate(out[i]);
      return out;
    });
  }
  if (ans.length > 0 && ans.length <= ref.length) moves.push(() => ans.slice(0, -1));
  return pick(rng, moves)();
}

/** The alphabet a character answer is written in: uppercase, lowercase or digits, guessed from the reference. */
function alphabetOf(reference: string): string {
  if (/^[0-9]*$/.test(reference)) return '0123456789';
  if (/[A-Z]/.test(reference)) return 'ABCDEFGHIJKLMNOPRSTUVWZ';
  return 'abcdefghijklmnoprstuvwz';
}

/**
 * One step further from `reference` for character answers (reverse, uppercase). A trailing space left by dropping
 * the last letter is dropped too (verifiers trim answers, so it would otherwise come back to life on the next step).
 */
export function corruptChars(reference: string, answer: string, rng: Rng): string {
  const alphabet = alphabetOf(reference);
  const other = (u?: string) => otherChar(rng, alphabet, u);
  const units = corruptUnits([...reference], [...answer], rng, other, other);
  return units.join('').trimEnd();
}

/** One step further from `reference` for right-aligned digit answers (add). */
export function corruptDigits(reference: string, answer: string, rng: Rng): string {
  const digits = '0123456789';
  const ref = [...reference].reverse();
  const mutate = (u: string) => otherChar(rng, digits, u);
  const units = corruptUnits(ref, [...answer].reverse(), rng, mutate, (a) => otherChar(rng, '123456789', a));
  return units.reverse().join('');
}

/** A token that differs from `token`: one of its characters changed within its own class (digit or letter). */
function mutateToken(rng: Rng, token: string): string {
  if (token === '') return String(rng.int(0, 9));
  const i = rng.int(0, token.length - 1);
  const c = token[i];
  const alphabet = /[0-9]/.test(c) ? (i === 0 && token.length > 1 ? '123456789' : '0123456789') : 'abcdefghijklmnoprstuvwz';
  return token.slice(0, i) + otherChar(rng, alphabet, c) + token.slice(i + 1);
}

/** One step further from `reference` for space-separated token answers (sort, repeat). */
export function corruptTokens(reference: string, answer: string, rng: Rng): string {
  const ref = tokens(reference);
  const fresh = (avoid?: string) => (avoid === undefined ? mutateToken(rng, pick(rng, ref)) : mutateToken(rng, avoid));
  return corruptUnits(ref, tokens(answer), rng, (u) => mutateToken(rng, u), fresh).join(' ');
}
