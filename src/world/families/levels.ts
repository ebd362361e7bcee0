/** Helpers families use to map slot contents to difficulty levels. */
import type { Rng } from '../../util/rng.ts';
import type { LevelCheck } from '../types.ts';
import { NATURAL_RE } from '../scoring.ts';

/** The level (1-based) whose inclusive [lo, hi] range contains `value`, or a reason naming `what`. */
export function levelOfRange(value: number, ranges: readonly (readonly [number, number])[], what: string): LevelCheck {
  const i = ranges.findIndex(([lo, hi]) => value >= lo && value <= hi);
  if (i >= 0) return { difficulty: i + 1 };
  return { reason: `${what} ${value} is outside ${ranges[0][0]}..${ranges[ranges.length - 1][1]}` };
}

/** A value drawn uniformly from level `d`'s inclusive range (the inverse of {@link levelOfRange}). */
export function sampleLevelRange(rng: Rng, ranges: readonly (readonly [number, number])[], d: number): number {
  const [lo, hi] = ranges[d - 1];
  return rng.int(lo, hi);
}

/** Parses a comma-and-space separated list of canonical integers ("12, 7, 40"), or null if any is not canonical. */
export function parseNaturals(text: string, separator: string): number[] | null {
  const parts = text.split(separator);
  if (!parts.every((p) => NATURAL_RE.test(p))) return null;
  return parts.map(Number);
}

/** Number of decimal digits of a non-negative integer. */
export function digitCount(n: number): number {
  return String(n).length;
}

/** A uniformly drawn integer with exactly `digits` digits (1 digit: 0..9). */
export function withDigits(rand: (lo: number, hi: number) => number, digits: number): number {
  return digits === 1 ? rand(0, 9) : rand(10 ** (digits - 1), 10 ** digits - 1);
}
