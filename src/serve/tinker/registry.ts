/**
 * What `selfplay serve --tinker` holds in memory: the base models it may serve (local HF folders, by name), the
 * models clients created (one LocalBackend each: the policy that trains and its frozen reference), sessions, sampling
 * sessions and sampler snapshots, each bounded per client (its remote address).
 *
 * A session ends after `sessionTtlMs` without a heartbeat or a call on one of its models; its models are unloaded.
 *
 * Base models: every folder given with --model, and every subfolder holding a config.json of a --model-dir root,
 * named by its folder name; the path as given on the command line is accepted as a name too.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { SamplerEnd } from '../../backend/backend.ts';
import { LocalBackend } from '../../backend/local.ts';
import { InputError } from '../../errors.ts';
import type { LoraConfig } from '../../model/lora.ts';
import type { Runtime } from '../../runtime/runtime.ts';
import { RequestError } from '../protocol.ts';

export interface RegistryLimits {
  /** Models held at once (each holds its policy, its reference and, full fine-tuning, the Adam moments). */
  maxModels: number;
  maxModelsPerClient: number;
  maxSessionsPerClient: number;
  /** A session with no heartbeat for this long ends, and the models created in it are unloaded. */
  sessionTtlMs: number;
}

export interface ServedModel {
  id: string;
  base: string;
  lora: LoraConfig | null;
  backend: LocalBackend;
  /** Bumped whenever the weights change (an applied optim_step, load_weights): sampler snapshots compare it. */
  version: number;
  client: string;
  sessionId: string | null;
}

interface Session {
  client: string;
  lastSeen: number;
}

/** Weights saved for sampling: the model and version they were taken at, and where they were written (if named). */
export interface SamplerSnapshot {
  modelId: string;
  version: number;
  dir: string | null;
}

/**
 * The frozen model of `folder` as a LocalBackend's reference sampler: sampling and scoring by the very code a local
 * run uses (no policy is loaded, nothing trains).
 */
function frozenSampler(folder: string, runtime: Runtime): SamplerEnd {
  return new LocalBackend({ model: folder, chatTemplate: null, lora: null, seed: 0, runtime, adam: { lr: 0, weightDecay: 0, gradClip: 0 } }).reference;
}

/** The base models: name -> folder. */
export function findBaseModels(models: readonly string[], roots: readonly string[]): Map<string, string> {
  const bases = new Map<string, string>();
  const add = (name: string, dir: string) => {
    if (!fs.existsSync(path.join(dir, 'config.json'))) throw new InputError(`${dir}: not a model folder (no config.json)`);
    if (!bases.has(name)) bases.set(name, path.resolve(dir));
  };
  for (const m of models) {
    add(path.basename(path.resolve(m)), m);
    add(m, m);
  }
  for (const root of roots) {
    if (!fs.existsSync(root) || !fs.statSync(root).isDirectory()) throw new InputError(`--model-dir ${root}: not a folder`);
    for (const e of fs.readdirSync(root, { withFileTypes: true })) {
      const dir = path.join(root, e.name);
      if (e.isDirectory() && fs.existsSync(path.join(dir, 'config.json'))) add(e.name, dir);
    }
  }
  if (bases.size === 0) throw new InputError('serve --tinker: no base models; give --model DIR or --model-dir ROOT');
  return bases;
}

export class Registry {
  readonly models = new Map<string, ServedModel>();
  readonly sessions = new Map<string, Session>();
  readonly samplingSessions = new Map<string, { base: string | null; modelPath: string | null }>();
  readonly snapshots = new Map<string, SamplerSnapshot>();
  private readonly baseCache = new Map<string, SamplerEnd>();
  private readonly snapshotCache = new Map<string, SamplerEnd>();

  constructor(
    readonly bases: Map<string, string>,
    private readonly runtime: Runtime,
    private readonly limits: RegistryLimits,
  ) {}

  /** The names clients may pass as base_model (folder names first). */
  baseNames(): string[] {
    return [...new Set([...this.bases.keys()].filter((n) => !n.includes('/') && !n.includes(path.sep)))];
  }

  folderOf(base: string, field = 'base_model'): string {
    const dir = this.bases.get(base);
    if (!dir) throw new RequestError(`${field}: ${JSON.stringify(base.slice(0, 200))} is not served here; served: ${this.baseNames().join(', ')}`, field, 404, 'unknown_model');
    return dir;
  }

  /** A new session of `client` (429 past the per-client bound; expired sessions are dropped first). */
  createSession(client: string): string {
    this.expireSessions();
    const mine = [...this.sessions.values()].filter((s) => s.client === client).length;
    if (mine >= this.limits.maxSessionsPerClient) throw new RequestError(`create_session: this client already has ${mine} sessions (limit ${this.limits.maxSessionsPerClient})`, null, 429, 'too_many_sessions');
    const id = `session_${randomBytes(8).toString('hex')}`;
    this.sessions.set(id, { client, lastSeen: Date.now() });
    return id;
  }

  heartbeat(id: string): void {
    const s = this.sessions.get(id);
    if (!s) throw new RequestError(`session_id ${JSON.stringify(id.slice(0, 80))}: no such session (it may have expired)`, 'session_id', 404, 'not_found');
    s.lastSeen = Date.now();
  }

  /** Ends sessions without a heartbeat for sessionTtlMs and unloads the models made in them. */
  expireSessions(now = Date.now()): void {
    for (const [id, s] of this.sessions) {
      if (now - s.lastSeen <= this.limits.sessionTtlMs) continue;
      this.sessions.delete(id);
      for (const m of [...this.models.values()]) if (m.sessionId === id) this.unload(m.id);
    }
  }

  /** Checks the bounds before any work is queued (429), so a refused create_model costs nothing. */
  checkCanCreate(client: string): void {
    this.expireSessions();
    if (this.models.size >= this.limits.maxModels) throw new RequestError(`create_model: the server holds ${this.models.size} models (limit ${this.limits.maxModels}); unload_model one first`, null, 429, 'too_many_models');
    const mine = [...this.models.values()].filter((m) => m.client === client).length;
    if (mine >= this.limits.maxModelsPerClient) throw new RequestError(`create_model: this client holds ${mine} models (limit ${this.limits.maxModelsPerClient}); unload_model one first`, null, 429, 'too_many_models');
  }

  /** Loads a new model of `base`: its policy starts as the base weights (full fine-tuning) or base + fresh adapters. */
  create(o: { base: string; lora: LoraConfig | null; seed: number; client: string; sessionId: string | null }): ServedModel {
    this.checkCanCreate(o.client);
    const backend = new LocalBackend({
      model: this.folderOf(o.base),
      chatTemplate: null,
      lora: o.lora,
      seed: o.seed,
      runtime: this.runtime,
      // every optim_step sets the AdamW settings from its AdamParams (ops.ts)
      adam: { lr: 1e-4, weightDecay: 0, gradClip: 0 },
    });
    backend.start();
    const id = `model_${randomBytes(8).toString('hex')}`;
    const m: ServedModel = { id, base: o.base, lora: o.lora, backend, version: 0, client: o.client, sessionId: o.sessionId };
    this.models.set(id, m);
    return m;
  }

  /** The model `id`; a call on it keeps its session alive as a heartbeat would. */
  model(id: string, field = 'model_id'): ServedModel {
    const m = this.models.get(id);
    if (!m) throw new RequestError(`${field}: ${JSON.stringify(id.slice(0, 80))}: no such model on this server (unloaded, or the server restarted: create_model + load_weights)`, field, 404, 'not_found');
    const session = m.sessionId === null ? undefined : this.sessions.get(m.sessionId);
    if (session) session.lastSeen = Date.now();
    return m;
  }

  unload(id: string): void {
    this.models.delete(id);
    for (const [p, s] of this.snapshots) if (s.modelId === id && s.dir === null) this.snapshots.delete(p);
  }

  /** The frozen base as a sampler: a loaded model's own reference when one exists (no second copy), else a cached load. */
  baseSampler(base: string): SamplerEnd {
    for (const m of this.models.values()) if (m.base === base) return m.backend.reference;
    let sampler = this.baseCache.get(base);
    if (!sampler) {
      sampler = frozenSampler(this.folderOf(base), this.runtime);
      this.baseCache.set(base, sampler);
    }
    return sampler;
  }

  /** Drops a cached load of a sampler folder (it was just rewritten). */
  forgetSnapshotFolder(dir: string): void {
    this.snapshotCache.delete(dir);
  }

  /**
   * The sampler for saved sampler weights: the live policy while the model has not changed since the save (the very
   * arrays local training samples from), else the folder written at save time (410-like user fault when there is none).
   */
  snapshotSampler(snap: SamplerSnapshot, what: string): SamplerEnd {
    const m = this.models.get(snap.modelId);
    if (m && m.version === snap.version) return m.backend.policy;
    if (snap.dir === null) throw new RequestError(`${what}: these sampler weights were unnamed and the model has changed since; save_weights_for_sampler with a path keeps them`, 'model_path', 410, 'stale');
    let sampler = this.snapshotCache.get(snap.dir);
    if (!sampler) {
      sampler = frozenSampler(snap.dir, this.runtime);
      if (this.snapshotCache.size >= 2) this.snapshotCache.delete(this.snapshotCache.keys().next().value!);
      this.snapshotCache.set(snap.dir, sampler);
    }
    return sampler;
  }
}
