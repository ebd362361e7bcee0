/** Every fixed text the world's prompts and targets can contain, and the content words that must avoid them. */
import { CHALLENGER_PROMPT, JUDGE_PROMPT } from '../prompts/paper.ts';
import { addFamily, largestFamily, sortFamily } from './families/numbers.ts';
import { repeatFamily, reverseFamily, uppercaseFamily } from './families/strings.ts';
import { CRITERION_PHRASES, EMPTY_RESPONSE_PHRASE, EXPECTED_PHRASE, LEAK_WRAPPERS, RESPONSE_WRAPPERS } from './phrases.ts';
import { FAMILY_NAMES, type FamilyName, type FamilySpec } from './types.ts';
import { wordsOf } from './words.ts';

/** The six families by name (registry order = {@link FAMILY_NAMES}). */
export const FAMILIES: Readonly<Record<FamilyName, FamilySpec>> = {
  reverse: reverseFamily,
  uppercase: uppercaseFamily,
  repeat: repeatFamily,
  sort: sortFamily,
  add: addFamily,
  largest: largestFamily,
};

/** The families as a list, in registry order. */
export const FAMILY_LIST: readonly FamilySpec[] = FAMILY_NAMES.map((n) => FAMILIES[n]);

/** Chat-template role names (words of the rendered chat, outside the prompts themselves). */
const CHAT_WORDS = ['user', 'assistant', 'system'];

/**
 * Every fixed text a world prompt or target can contain: the Box 1 and Box 3 bodies, task names, templates,
 * family names, the judge's justification phrases and the response/leak wrappers. The tokenizer makes their words
 * single tokens; content words never equal one of them.
 */
export function allPromptTexts(): string[] {
  return [
    CHALLENGER_PROMPT,
    JUDGE_PROMPT,
    ...FAMILY_LIST.map((f) => f.task),
    ...FAMILY_LIST.flatMap((f) => f.templates),
    ...FAMILY_NAMES,
    ...CRITERION_PHRASES.flat(),
    EMPTY_RESPONSE_PHRASE,
    EXPECTED_PHRASE,
    ...RESPONSE_WRAPPERS,
    ...LEAK_WRAPPERS,
    CHAT_WORDS.join(' '),
  ];
}

let reserved: Set<string> | undefined;

/** Lowercased words of {@link allPromptTexts}: a content word equal to one of these is redrawn. */
export function reservedWords(): ReadonlySet<string> {
  reserved ??= wordsOf(allPromptTexts());
  return reserved;
}
