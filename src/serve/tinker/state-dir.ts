/**
 * Where `selfplay serve --tinker` keeps what it saves: `<state-dir>/<model_id>/<kind>/<name>/` with kind `weights`
 * (save_weights: the trainable weights, the optimizer moments, meta.json) or `sampler_weights`
 * (save_weights_for_sampler: an HF folder to sample from). Nothing is ever written or read outside the state dir:
 * model ids and names are checked against strict patterns (no `..`, no separators, not absolute), and the resolved
 * folder -- after following any symbolic link -- must still lie inside the state dir's real path.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { CHECKPOINT_NAME } from '../../backend/tinker-schemas.ts';
import { RequestError } from '../protocol.ts';
import { UserFault } from './futures.ts';
import { isInside } from '../../util/fs.ts';

/** Model ids this server makes (`model_<hex>`) and accepts in tinker:// paths. */
export const MODEL_ID = /^[A-Za-z0-9_-]{1,64}$/;

export type CheckpointKind = 'weights' | 'sampler_weights';

/** `<root>/<modelId>/<kind>/<name>`, refused (400 naming `field`) unless every part is safe and it stays inside root. */
export function checkpointDir(root: string, modelId: string, kind: CheckpointKind, name: string, field = 'path'): string {
  if (!MODEL_ID.test(modelId)) throw new RequestError(`${field}: model id ${JSON.stringify(modelId.slice(0, 80))} is not of the form [A-Za-z0-9_-]{1,64}`, field);
  if (!CHECKPOINT_NAME.test(name)) throw new RequestError(`${field}: checkpoint name ${JSON.stringify(name.slice(0, 80))} must be 1-128 of A-Z a-z 0-9 _ - . without ".."`, field);
  const base = path.resolve(root);
  const dir = path.resolve(base, modelId, kind, name);
  if (!isInside(dir, base)) throw new RequestError(`${field}: resolves outside the state dir`, field);
  return dir;
}

/**
 * For reading: `dir` must exist and its real path (links followed) must lie inside the state dir's real path;
 * otherwise a user fault naming the checkpoint (not the server's file system).
 */
export function existingInside(root: string, dir: string, what: string): string {
  let real: string;
  try {
    real = fs.realpathSync(dir);
  } catch {
    throw new UserFault(`${what}: no such checkpoint on this server`);
  }
  if (!isInside(real, fs.realpathSync(root))) throw new UserFault(`${what}: resolves outside the state dir`);
  return real;
}

/** For writing: the parent chain that exists must resolve inside the state dir (a planted link cannot redirect a save). */
export function checkWritable(root: string, dir: string, what: string): void {
  const realRoot = fs.realpathSync(root);
  let p = path.dirname(dir);
  while (!fs.existsSync(p)) p = path.dirname(p);
  if (!isInside(fs.realpathSync(p), realRoot)) throw new UserFault(`${what}: resolves outside the state dir`);
  if (fs.existsSync(dir) && fs.lstatSync(dir).isSymbolicLink()) throw new UserFault(`${what}: is a symbolic link; refusing to write through it`);
}

export const META_FILE = 'tinker-meta.json';

/** What a saved training checkpoint records beside its weights: enough to refuse loading it into the wrong model. */
export const checkpointMetaSchema = z.object({
  format: z.literal('selfplay-tinker-checkpoint-1'),
  base_model: z.string(),
  lora: z.object({ rank: z.number().int().positive(), alpha: z.number().positive(), targets: z.array(z.string()) }).nullable(),
  optimizer_step: z.number().int().nonnegative(),
  source_model_id: z.string(),
  saved_at: z.string(),
});
export type CheckpointMeta = z.infer<typeof checkpointMetaSchema>;

/** The meta of the checkpoint in `dir` (a user fault naming it when missing or malformed). */
export function readMeta(dir: string, what: string): CheckpointMeta {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(path.join(dir, META_FILE), 'utf8'));
  } catch (e) {
    throw new UserFault(`${what}: not a checkpoint of this server (${META_FILE}: ${(e as Error).message.split('\n')[0]})`);
  }
  const r = checkpointMetaSchema.safeParse(raw);
  if (!r.success) throw new UserFault(`${what}: ${META_FILE}: ${r.error.issues[0].path.join('.')}: ${r.error.issues[0].message}`);
  return r.data;
}
