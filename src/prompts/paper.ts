/**
 * The paper's two prompt texts (arXiv 2509.07414 v3), verbatim (docs/method.md shows them), and the
 * functions that fill and read them.
 *
 * - Box 1 (challenger): placeholders `{task}` and `{template}`. The text also contains a literal `{}` and
 *   `{ice cream flavor}`; those are part of the prose and are never substituted.
 * - Box 3 (self-reward judge): placeholders `{instruction}` and `{response}`; the judge ends with `<Score>n</Score>`.
 *
 * test/prompts.test.ts pins both constants by SHA-256 and byte for byte against the blocks in docs/method.md.
 */

/** Box 1, the challenger prompt: asks for one input of the language task `{task}` following `{template}`. */
export const CHALLENGER_PROMPT = `Background
Language tasks take form of a tuple (input, output). Given an input, the language agent produces an output that addresses the request posed by the input. For example, in a question answering task, the input is a question, and the output is an answer to the question. In essay title generation, the input is an essay, and the output is a title that captures the essence of that essay.

Request
Generate an input for the language task '{task}' that will be passed to another language agent. That is, your response to this prompt MUST be a valid input for the language task. The input can be easy, intermediate, hard, or simply noisy. It should stress-test the agent or push it think outside of the box. Note that in this run you will generate ONLY a single example.

Details
Below, between tags [Start Generation] and [End Generation], you will find a template that you MUST follow while generating the input - you will copy the text of the template (WITHOUT the tags) and fill out the template's placeholders marked by curly braces {} with your own generated content. For example, if the placeholder is {ice cream flavor}, you should generate a name of an ice cream flavor.
[Start Generation] '{template}' [End Generation]

Final Remarks
Do NOT generate a response (an output), hints, or leak information together with the input you generate. The input must NOT request actions that cannot be performed by a language agent. Stop generating immediately once your response fulfills the template. Your response must NOT include [Start Generation] and [End Generation] tags. Follow the template strictly unless both the task and template are None or empty (when you should generate an input according to your best judgment). Now, as a response to this prompt, generate a single input for the language task '{task}', following the template.`;

/** Box 3, the quality self-reward prompt: a 7-point additive rubric ending in `<Calculation>` and `<Score>`. */
export const JUDGE_PROMPT = `Review the user-assistant interaction (user's instruction and the corresponding response) and score it using the additive 7-point integer scoring system described below. The base score is 0. Points are accumulated based on the satisfaction of each binary criterion (+1 if the criterion is met and 0 otherwise):
1. +1 iff the user's task is clearly identifiable from the instruction.
2. +1 iff the instruction is clear, specific, and well-structured.
3. +1 iff it is clear that this user will be able to understand the response.
4. +1 iff the response addresses a significant portion of the user's question but is not necessarily fully complete.
5. +1 iff the response usefully and comprehensively answers the core elements of the question.
6. +1 iff the response is clearly written, concise, well-organized, and helpful.
7. +1 iff this user will most likely like the form and the style of the response.
<Instruction>{instruction}</Instruction>
<Response>{response}</Response>
After examining the user's instruction and the response:
- Briefly justify your scores, using up to 100 words in total. Remember the score for each criterion.
- Write down the calculation adding up all individual points between <Calculation> and </Calculation> tags (e.g. <Calculation>1+0+1+0+1+1+0=4</Calculation>). The result is the total score. MAKE SURE THE CALCULATION IS CORRECT!
- Conclude with the total score value, from 0 to 7, between <Score> and </Score> tags (e.g. <Score>4</Score>). THE CORRECT FORMAT IS CRUCIAL!`;

/** Replaces exactly the given `{name}` placeholders in one pass (substituted text is never re-scanned). */
function substitute(text: string, values: Readonly<Record<string, string>>): string {
  const names = Object.keys(values).map((n) => n.replace(/[.*+?^$()|[\]\\]/g, '\\$&'));
  const re = new RegExp(`\\{(${names.join('|')})\\}`, 'g');
  return text.replace(re, (_m, name: string) => values[name]);
}

/**
 * The challenger prompt for one task and template. `null`/`undefined` become empty strings, as the paper says
 * (the model then generates "according to its best judgment"). Only `{task}` and `{template}` are replaced.
 */
export function fillChallengerPrompt(
  task: string | null | undefined,
  template: string | null | undefined,
  prompt: string = CHALLENGER_PROMPT,
): string {
  return substitute(prompt, { task: task ?? '', template: template ?? '' });
}

/** The judge prompt for one instruction and response. Only `{instruction}` and `{response}` are replaced. */
export function fillJudgePrompt(
  instruction: string | null | undefined,
  response: string | null | undefined,
  prompt: string = JUDGE_PROMPT,
): string {
  return substitute(prompt, { instruction: instruction ?? '', response: response ?? '' });
}

/** The `<Calculation>a+b+...=t</Calculation>` a judge wrote, read back. */
export interface JudgeCalculation {
  /** The added points, in order. */
  terms: number[];
  /** The total the judge wrote after `=`. */
  total: number;
  /** Whether the terms really sum to the total. */
  sumsCorrectly: boolean;
}

/** What {@link parseJudgeScore} read from a judge's output. */
export interface JudgeScore {
  /** The integer between the first `<Score>` and `</Score>`, 0..7; null when absent, not an integer, or out of range. */
  score: number | null;
  /** The first `<Calculation>` block, when present and of the form `a+b+...=t` with integers. */
  calculation?: JudgeCalculation;
}

// One greedy class and a trim, not `\s*([^<]*?)\s*`: that form backtracks cubically on an unclosed tag followed by
// whitespace (10k spaces took minutes).
const SCORE_RE = /<Score>([^<]*)<\/Score>/;
const CALCULATION_RE = /<Calculation>([^<]*)<\/Calculation>/;

function parseCalculation(text: string): JudgeCalculation | undefined {
  const m = CALCULATION_RE.exec(text);
  if (!m) return undefined;
  const eq = /^(\d+(?:\s*\+\s*\d+)*)\s*=\s*(\d+)$/.exec(m[1].trim());
  if (!eq) return undefined;
  const terms = eq[1].split('+').map((t) => Number(t.trim()));
  const total = Number(eq[2]);
  return { terms, total, sumsCorrectly: terms.reduce((a, b) => a + b, 0) === total };
}

/**
 * Reads a judge's output: the score is the integer in the first `<Score>..</Score>` (surrounding spaces allowed),
 * accepted only in 0..7; anything else (missing tag, unclosed tag, "4.5", "-1", "8", words) gives `score: null`,
 * which callers count and replace by their documented fallback.
 */
export function parseJudgeScore(text: string): JudgeScore {
  const m = SCORE_RE.exec(text);
  let score: number | null = null;
  const inner = m?.[1].trim();
  if (inner !== undefined && /^\d+$/.test(inner)) {
    const n = Number(inner);
    if (n >= 0 && n <= 7) score = n;
  }
  const calculation = parseCalculation(text);
  return calculation ? { score, calculation } : { score };
}
