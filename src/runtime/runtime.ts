/**
 * The one module that talks to ONNX Runtime. Compiles serialised graphs into sessions (once per key, cached),
 * runs them on host arrays, and releases them explicitly. ORT failures become RuntimeFailure naming the graph.
 */
import os from 'node:os';
import * as ort from 'onnxruntime-node';
import { InputError, RuntimeFailure } from '../errors.ts';

export type HostArray = Float32Array | Float64Array | BigInt64Array;

/** A host tensor: data plus dims. */
export interface HostTensor {
  data: HostArray;
  dims: readonly number[];
}

export interface RuntimeOptions {
  /** Threads for one op (ORT intra-op pool). Default: all cores. */
  threads?: number;
  /** Execution provider; only `cpu` exists on this machine. */
  executionProvider?: 'cpu' | 'cuda' | 'webgpu';
  /** ORT graph optimisation level. `all` lets ORT fuse (e.g. Transpose+MatMul). */
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
  /** Let idle ORT threads spin; faster back-to-back runs, but competes with Node for cores. */
  spinning?: boolean;
  /**
   * Keep each session's CPU memory arena (reuse of its peak activations between runs). On by default: without it
   * every run allocates and page-faults its activations afresh, and a train step takes ~2.5x as long (npm run
   * bench). An arena keeps its peak for the session's lifetime, so memory is bounded by `memoryBudgetMB`.
   */
  memoryArena?: boolean;
  /** Cached sessions beyond this many are released, least recently used first. */
  maxSessions?: number;
  /**
   * Resident memory (MB) above which least recently used sessions are released, one per compile call, until it
   * falls below (the few most recent are always kept). Default: SELFPLAY_MEMORY_MB if set, else a quarter of the
   * machine's memory. An LSP experiment with arenas on and no bound grew to 24 GB.
   */
  memoryBudgetMB?: number;
}

/**
 * The memory budget when none is given: SELFPLAY_MEMORY_MB (whole megabytes, at least 256), else a quarter of RAM.
 * Every command reads it, so a user on a small machine caps all of them in one place.
 */
export function defaultMemoryBudgetMB(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.SELFPLAY_MEMORY_MB;
  if (raw === undefined || raw === '') return Math.round(os.totalmem() / 4 / 2 ** 20);
  const mb = Number(raw);
  if (!Number.isInteger(mb) || mb < 256) throw new InputError(`SELFPLAY_MEMORY_MB=${raw.slice(0, 40)}: expected whole megabytes, at least 256 (e.g. 3000)`);
  return mb;
}

/** Sessions never released for memory: a caller may still hold the last few it compiled. */
const KEEP_RECENT_SESSIONS = 8;

/** A compiled graph, ready to run. */
export class CompiledGraph {
  constructor(
    readonly key: string,
    private session: ort.InferenceSession | undefined,
  ) {}

  get inputNames(): readonly string[] {
    return this.live().inputNames;
  }

  get outputNames(): readonly string[] {
    return this.live().outputNames;
  }

  /** Runs the graph. `fetch` limits the outputs computed (default: all). */
  async run(feeds: Record<string, HostTensor>, fetch?: readonly string[]): Promise<Record<string, HostTensor>> {
    const session = this.live();
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const name of session.inputNames) {
      const t = feeds[name];
      if (!t) throw new RuntimeFailure(`graph ${this.key}: missing input ${name}`);
      ortFeeds[name] = toOrt(t);
    }
    let results: ort.InferenceSession.ReturnType;
    try {
      results = fetch ? await session.run(ortFeeds, [...fetch]) : await session.run(ortFeeds);
    } catch (e) {
      throw new RuntimeFailure(`graph ${this.key}: ONNX Runtime run failed: ${(e as Error).message}`);
    }
    const out: Record<string, HostTensor> = {};
    for (const [name, value] of Object.entries(results)) {
      out[name] = { data: value.data as HostArray, dims: value.dims };
    }
    return out;
  }

  async release(): Promise<void> {
    const s = this.session;
    this.session = undefined;
    if (s) await s.release();
  }

  private live(): ort.InferenceSession {
    if (!this.session) throw new RuntimeFailure(`graph ${this.key}: used after release`);
    return this.session;
  }
}

function toOrt(t: HostTensor): ort.Tensor {
  const type = t.data instanceof Float32Array ? 'float32' : t.data instanceof Float64Array ? 'float64' : 'int64';
  return new ort.Tensor(type, t.data, t.dims as number[]);
}

/** Compiles and caches sessions. One Runtime per process is typical. */
export class Runtime {
  private readonly cache = new Map<string, Promise<CompiledGraph>>();
  readonly options: Required<RuntimeOptions>;
  /** Sessions compiled so far, and how many times each key was compiled (a key compiled twice was evicted). */
  readonly compiles = { total: 0, perKey: new Map<string, number>() };
  /** Sessions compiled by every Runtime of this process (for code that cannot reach the Runtime, e.g. a bench). */
  static processCompiles = 0;

  constructor(options: RuntimeOptions = {}) {
    this.options = {
      threads: options.threads ?? os.availableParallelism(),
      executionProvider: options.executionProvider ?? 'cpu',
      optimization: options.optimization ?? 'all',
      spinning: options.spinning ?? false,
      memoryArena: options.memoryArena ?? true,
      maxSessions: options.maxSessions ?? 48,
      memoryBudgetMB: options.memoryBudgetMB ?? defaultMemoryBudgetMB(),
    };
  }

  /** The session for `key`, compiling `build()` the first time the key is seen. */
  compile(key: string, build: () => Uint8Array): Promise<CompiledGraph> {
    let entry = this.cache.get(key);
    if (entry) {
      this.cache.delete(key); // re-insert: Map order is the recency order
      this.cache.set(key, entry);
      return entry;
    }
    entry = this.create(key, build());
    this.compiles.total++;
    Runtime.processCompiles++;
    this.compiles.perKey.set(key, (this.compiles.perKey.get(key) ?? 0) + 1);
    this.cache.set(key, entry);
    entry.catch(() => this.cache.delete(key));
    this.evictBeyond(this.options.maxSessions);
    // over budget, every session but the newest few goes at once (one per compile let a training run drift far past it)
    if (process.memoryUsage.rss() > this.options.memoryBudgetMB * 2 ** 20) this.evictBeyond(KEEP_RECENT_SESSIONS);
    return entry;
  }

  /** Releases the least recently used sessions until at most `max` remain. */
  private evictBeyond(max: number): void {
    for (const [key, entry] of this.cache) {
      if (this.cache.size <= max) break;
      this.cache.delete(key);
      entry.then((s) => s.release(), () => undefined);
    }
  }

  has(key: string): boolean {
    return this.cache.has(key);
  }

  /** Releases one cached session, or all of them. */
  async release(key?: string): Promise<void> {
    const keys = key === undefined ? [...this.cache.keys()] : [key];
    for (const k of keys) {
      const entry = this.cache.get(k);
      this.cache.delete(k);
      if (entry) await (await entry).release();
    }
  }

  private async create(key: string, bytes: Uint8Array): Promise<CompiledGraph> {
    const o = this.options;
    const sessionOptions: ort.InferenceSession.SessionOptions = {
      executionProviders: [o.executionProvider],
      graphOptimizationLevel: o.optimization,
      intraOpNumThreads: o.threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      enableCpuMemArena: o.memoryArena,
      extra: { session: { intra_op: { allow_spinning: o.spinning ? '1' : '0' } } },
    };
    try {
      return new CompiledGraph(key, await ort.InferenceSession.create(bytes, sessionOptions));
    } catch (e) {
      throw new RuntimeFailure(`graph ${key}: ONNX Runtime could not compile it: ${(e as Error).message}`);
    }
  }
}
