/**
 * Templates with `{slot}` placeholders: filling them, and reading a filled one back.
 *
 * A strict match requires the instruction (trimmed) to be the template with every slot replaced by content that
 * matches the slot's pattern; a template's closing question mark may be left out (world v4: "What is the largest of
 * 12, 7, 40" asks the same question, and the v4 challenger dropped the mark on every second largest query). A loose
 * match only asks that the template's literal words appear in order, with any text (or none) where the slots are,
 * flexible spacing, and anything around it: "the skeleton is recognisable".
 */
import { InputError } from '../errors.ts';
import type { Slots } from './types.ts';

const PLACEHOLDER_RE = /\{([a-z]+)\}/g;

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The slot names of a template, in order of appearance. */
export function placeholders(template: string): string[] {
  return [...template.matchAll(PLACEHOLDER_RE)].map((m) => m[1]);
}

/** The instruction text: each `{slot}` replaced (in one pass) by its content. Throws when a slot has no content. */
export function fillTemplate(template: string, slots: Slots): string {
  return template.replace(PLACEHOLDER_RE, (_m, name: string) => {
    const v = slots[name];
    if (v === undefined) throw new InputError(`template "${template}": no content for placeholder {${name}}`);
    return v;
  });
}

/** A template compiled for matching: the regex and the slot name of each capture group. */
export interface CompiledTemplate {
  template: string;
  regex: RegExp;
  slotNames: string[];
}

function compile(
  template: string,
  slotSource: (name: string) => string,
  literal: (text: string) => string,
  anchored = true,
  tail = '',
): CompiledTemplate {
  const slotNames: string[] = [];
  let source = '';
  let last = 0;
  for (const m of template.matchAll(PLACEHOLDER_RE)) {
    source += literal(template.slice(last, m.index));
    source += `(${slotSource(m[1])})`;
    slotNames.push(m[1]);
    last = m.index + m[0].length;
  }
  source += literal(template.slice(last));
  source += tail;
  return { template, regex: new RegExp(anchored ? `^${source}$` : source, 's'), slotNames };
}

/** Strict matcher: literal text exactly (a closing "?" optional), each slot by its pattern from `slotPatterns`. */
export function compileStrict(template: string, slotPatterns: Readonly<Record<string, string>>): CompiledTemplate {
  const question = template.endsWith('?');
  const slotSource = (name: string) => {
    const p = slotPatterns[name];
    if (p === undefined) throw new InputError(`template "${template}": no pattern for placeholder {${name}}`);
    return p;
  };
  const compiled = compile(question ? template.slice(0, -1) : template, slotSource, escapeRegex, true, question ? '\\??' : '');
  return { ...compiled, template };
}

/**
 * Loose matcher: the template's literal words in order, with any spacing between them, anywhere in the text
 * (text before or after is allowed); slots match anything, even nothing.
 */
export function compileLoose(template: string): CompiledTemplate {
  const literal = (text: string) =>
    text
      .split(/\s+/)
      .map(escapeRegex)
      .join('\\s*');
  return compile(template, () => '.*?', literal, false);
}

/** The slot contents when `text` (trimmed) matches, else null. */
export function matchTemplate(compiled: CompiledTemplate, text: string): Record<string, string> | null {
  const m = compiled.regex.exec(text.trim());
  if (!m) return null;
  const slots: Record<string, string> = {};
  compiled.slotNames.forEach((name, i) => (slots[name] = m[i + 1]));
  return slots;
}
