/**
 * Instruction sets for pairwise evaluation, and model outputs in AlpacaEval's format.
 *
 * Accepted sets:
 * - AlpacaEval JSON: a list of objects with `instruction` (and `dataset`, which becomes the subset; default "all").
 * - JSON Lines: one object per line with `instruction` (and an optional `subset` or `dataset`; default "all").
 * - `world`: the embedded held-out set (data/world-eval-v3.jsonl); subset = task family, and the parsed instance is
 *   kept so the world's verifier can judge answers. `world-large`: the larger one (data/world-eval-large-v3.jsonl).
 */
import * as fs from 'node:fs';
import { InputError } from '../errors.ts';
import { writeFileAtomic } from '../util/fs.ts';
import { loadEvalSet, EVAL_SET_PATH, LARGE_EVAL_SET_PATH } from '../world/evalset.ts';
import type { Instance } from '../world/types.ts';
import { classify } from '../world/world.ts';
import { oneLine } from '../util/brief.ts';

export interface EvalPrompt {
  /** Stable id: the world item's id, else "<index>" (0-based position in the file). */
  id: string;
  instruction: string;
  subset: string;
  /** Only for the world set: the instance the instruction states, for the verifier. */
  instance?: Instance;
}

/** One entry of an AlpacaEval model-outputs file. */
export interface AlpacaEvalOutput {
  instruction: string;
  output: string;
  generator: string;
  dataset: string;
}

/** The set named by `--set`: "world" or a file (JSON list or JSON Lines, told apart by the first character). */
export function loadEvalPrompts(set: string): EvalPrompt[] {
  if (set === 'world') return worldPrompts(EVAL_SET_PATH);
  if (set === 'world-large') return worldPrompts(LARGE_EVAL_SET_PATH);
  let text: string;
  try {
    text = fs.readFileSync(set, 'utf8');
  } catch (e) {
    throw new InputError(`--set ${set}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const prompts = text.trimStart().startsWith('[') ? parseJsonList(text, set) : parseJsonLines(text, set);
  if (prompts.length === 0) throw new InputError(`${set}: no instructions`);
  return prompts;
}

/** The embedded held-out set: every item must state a valid world instance. */
export function worldPrompts(file: string): EvalPrompt[] {
  return loadEvalSet(file).map((item) => {
    const c = classify(item.instruction);
    if (!c.valid) throw new InputError(`${file}: item ${item.id}: not a valid world instruction (${c.reason})`);
    return { id: item.id, instruction: item.instruction, subset: item.family, instance: c.instance };
  });
}

/** Checks one parsed entry; `where` names the file and the line or index in errors. */
function toPrompt(entry: unknown, where: string, id: string, subsetFields: readonly string[]): EvalPrompt {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw new InputError(`${where}: expected an object`);
  const obj = entry as Record<string, unknown>;
  if (typeof obj.instruction !== 'string') {
    throw new InputError(`${where}: field "instruction" must be a string${obj.instruction === undefined ? ' (missing)' : ''}`);
  }
  if (obj.instruction.trim() === '') throw new InputError(`${where}: field "instruction" is empty`);
  let subset = 'all';
  for (const field of subsetFields) {
    const v = obj[field];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'string' || v === '') throw new InputError(`${where}: field "${field}" must be a non-empty string`);
    subset = v;
    break;
  }
  return { id, instruction: obj.instruction, subset };
}

function parseJsonList(text: string, file: string): EvalPrompt[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new InputError(`${file}: invalid JSON (${oneLine((e as Error).message)})`);
  }
  if (!Array.isArray(json)) throw new InputError(`${file}: expected a JSON list of {"instruction", "dataset"} objects`);
  return json.map((entry, i) => toPrompt(entry, `${file}: entry [${i}]`, String(i), ['dataset']));
}

function parseJsonLines(text: string, file: string): EvalPrompt[] {
  const prompts: EvalPrompt[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    let entry: unknown;
    try {
      entry = JSON.parse(line);
    } catch (e) {
      throw new InputError(`${file}:${i + 1}: invalid JSON (${oneLine((e as Error).message)})`);
    }
    prompts.push(toPrompt(entry, `${file}:${i + 1}`, String(prompts.length), ['subset', 'dataset']));
  });
  return prompts;
}

/** Outputs in AlpacaEval's model-outputs format, in the order of `prompts`. */
export function toAlpacaEvalOutputs(prompts: readonly EvalPrompt[], outputs: readonly string[], generator: string): AlpacaEvalOutput[] {
  if (outputs.length !== prompts.length) {
    throw new InputError(`AlpacaEval outputs: ${outputs.length} outputs for ${prompts.length} instructions`);
  }
  return prompts.map((p, i) => ({ instruction: p.instruction, output: outputs[i], generator, dataset: p.subset }));
}

/** Writes AlpacaEval outputs as a JSON list (what `alpaca_eval --model_outputs` reads), atomically. */
export function writeAlpacaEvalOutputs(file: string, entries: readonly AlpacaEvalOutput[]): void {
  writeFileAtomic(file, `${JSON.stringify(entries, null, 2)}\n`);
}

