/**
 * A short, safe rendering of an untrusted value for an error message: small scalar arrays in full when short, anything
 * nested or long summarised, strings cut at 80 characters. Never recurses into the value.
 */
export function brief(v: unknown): string {
  if (Array.isArray(v) && v.length <= 8 && v.every((x) => typeof x !== 'object' || x === null)) {
    const s = `[${v.map((x) => (typeof x === 'number' ? String(x) : (JSON.stringify(x) ?? String(x)))).join(',')}]`;
    if (s.length <= 80) return s; // a long one (strings of quotes double when escaped) is summarised below
  }
  if (Array.isArray(v)) return `an array of ${v.length} elements`;
  if (v !== null && typeof v === 'object') return 'an object';
  if (typeof v === 'number') return String(v); // JSON.stringify writes Infinity and NaN as null
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 80 ? `${s.slice(0, 80)}...` : s;
}

/** `text` on one line (runs of whitespace, newlines included, become one space): for messages that quote input. */
export function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ');
}
