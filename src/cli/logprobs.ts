/** `selfplay logprobs`: per-token log-probs of given token sequences under a model folder. */
import fs from 'node:fs';
import { InputError } from '../errors.ts';
import { loadModelConfig } from '../model/config.ts';
import { ModelEngine } from '../model/engine.ts';
import { loadModelWeights } from '../model/folder.ts';
import { Runtime } from '../runtime/runtime.ts';
import { oneLine } from '../util/brief.ts';

/** Sequences per forward pass; bounds memory for large inputs. */
const CHUNK = 16;

/** Reads and validates {"sequences": [[ids...], ...]}; errors name the file and the offending entry. */
export function readSequencesFile(file: string): number[][] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new InputError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new InputError(`${file}: invalid JSON (${oneLine((e as Error).message)})`);
  }
  const sequences = (json as { sequences?: unknown })?.sequences;
  if (!Array.isArray(sequences)) throw new InputError(`${file}: expected an object with a "sequences" array`);
  sequences.forEach((seq, i) => {
    if (!Array.isArray(seq) || seq.length === 0) throw new InputError(`${file}: sequences[${i}] must be a non-empty array of token ids`);
    seq.forEach((id, t) => {
      if (!Number.isInteger(id) || id < 0) throw new InputError(`${file}: sequences[${i}][${t}] = ${JSON.stringify(id)} is not a token id`);
    });
  });
  return sequences as number[][];
}

export async function logprobsCommand(opts: { model: string; input: string; threads?: number }) {
  const sequences = readSequencesFile(opts.input);
  const cfg = loadModelConfig(opts.model);
  sequences.forEach((seq, i) => {
    const bad = seq.findIndex((id) => id >= cfg.vocabSize);
    if (bad >= 0) throw new InputError(`${opts.input}: sequences[${i}][${bad}] = ${seq[bad]} is outside the vocabulary (size ${cfg.vocabSize})`);
    if (seq.length > cfg.maxPositionEmbeddings) {
      throw new InputError(`${opts.input}: sequences[${i}] has ${seq.length} tokens, more than the model's context of ${cfg.maxPositionEmbeddings} (max_position_embeddings); split or shorten it`);
    }
  });
  const { weights } = loadModelWeights(opts.model, cfg);
  const runtime = new Runtime({ threads: opts.threads });
  try {
    const engine = new ModelEngine(cfg, weights, runtime);
    const logprobs: (number | null)[][] = [];
    for (let i = 0; i < sequences.length; i += CHUNK) {
      const chunk = sequences.slice(i, i + CHUNK);
      const longEnough = chunk.map((s) => (s.length >= 2 ? s : [...s, 0])); // a lone token still gets its null
      const rows = await engine.logprobs(longEnough);
      rows.forEach((row, k) => logprobs.push(row.slice(0, chunk[k].length)));
    }
    return { logprobs };
  } finally {
    await runtime.release();
  }
}
