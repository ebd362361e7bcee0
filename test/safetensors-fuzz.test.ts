/**
 * Seeded fuzz test of the safetensors reader: valid files mutated at random (byte flips, truncations, header
 * lengths, hostile JSON headers) and plain garbage. For every input readSafetensors and readSafetensorsHeader
 * must either succeed (and then every tensor's data matches its shape) or throw a ModelFormatError naming the
 * file: never another exception, never a hang.
 *
 * The cases run in a worker thread under a watchdog: each case is a pure function of (seed, index), so a case
 * that hangs is regenerated here and reported with its bytes. Failures are grouped by crash site; each group
 * prints its count, one input (case index, kind, 8-byte prefix in hex, header text) and the stack.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { ModelFormatError } from '../src/errors.ts';
import { readSafetensors, readSafetensorsHeader, writeSafetensors } from '../src/model/safetensors.ts';

const SEED = 20250914;
const CASES = 6000;
/** A case running longer than this counts as a hang. */
const HANG_MS = 5000;

// ---- deterministic inputs

/** mulberry32: a small seeded PRNG. */
function rngFor(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rng = () => number;
const int = (r: Rng, n: number) => Math.floor(r() * n);
const pick = <T>(r: Rng, xs: readonly T[]): T => xs[int(r, xs.length)];

/** Three valid files: F32 with metadata, BF16, F16 + integer tensors. */
function baseFiles(): Buffer[] {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'st-fuzz-base-'));
  const r = rngFor(1);
  const f32 = (n: number) => Float32Array.from({ length: n }, () => r() * 2 - 1);
  const specs: [Parameters<typeof writeSafetensors>[1], Parameters<typeof writeSafetensors>[2]][] = [
    [{ 'a.weight': { shape: [3, 4], data: f32(12) }, 'a.bias': { shape: [4], data: f32(4) }, s: { shape: [], data: f32(1) } }, { metadata: { format: 'pt', note: 'fuzz' } }],
    [{ w: { shape: [2, 3], data: f32(6) }, e: { shape: [0, 5], data: f32(0) } }, { dtype: 'BF16' }],
    [{ h: { shape: [5], data: f32(5) }, ids: { shape: [2], data: BigInt64Array.from([1n, -2n]) }, m: { shape: [3], data: Int32Array.from([1, 2, 3]) } }, { dtype: 'F16' }],
  ];
  const out = specs.map(([tensors, opts], i) => {
    const f = path.join(dir, `base${i}.safetensors`);
    writeSafetensors(f, tensors, opts);
    return fs.readFileSync(f);
  });
  fs.rmSync(dir, { recursive: true, force: true });
  return out;
}

const JSON_BYTES = Buffer.from('{}[]",:-+0123456789eE.tfnrul \\/_');
const RAW_NUMBERS = ['1e400', '-1e400', '1.5', '-1', '-0', '9007199254740993', '18446744073709551616', '1e2', '0.0', '4294967296'];
const NAMES = ['a', 'b', '', '__metadata__', '__proto__', 'constructor', 'toString', 'é', '\u0000', 'x'.repeat(300)];
const DTYPES = ['F32', 'F16', 'BF16', 'I64', 'I32', 'F64', 'U8', 'I8', 'BOOL', 'f32', 'F8_E4M3', '', 'toString', '__proto__', 'hasOwnProperty'];
const SIZE: Record<string, number> = { F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, F64: 8, U8: 1, I8: 1, BOOL: 1 };

/** A hostile JSON value; raw number tokens are spliced in later via `raw`. */
function evil(r: Rng, raw: string[]): unknown {
  switch (int(r, 12)) {
    case 0: return pick(r, [-1, 0, 1, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 60, 1e308, -(2 ** 53)]);
    case 1: raw.push(pick(r, RAW_NUMBERS)); return `@RAW${raw.length - 1}@`;
    case 2: return pick(r, DTYPES);
    case 3: return pick(r, [null, true, false]);
    case 4: return {};
    case 5: return [];
    case 6: return Array.from({ length: int(r, 4) + 1 }, () => evil(r, raw));
    case 7: return { ...JSON.parse('{"__proto__":[1],"toString":1}'), [pick(r, NAMES)]: evil(r, raw) };
    case 8: return Array.from({ length: 1000 + int(r, 1000) }, () => int(r, 3));
    case 9: return [int(r, 10), -int(r, 10) - 1];
    case 10: return [2 ** 26, 2 ** 26, 2 ** 26];
    default: return `@DEEP${int(r, 3)}@`; // deeply nested arrays/objects, spliced in as text
  }
}

/** Deep nesting (JSON.parse copes; recursive code may not). 50000 levels overflow any thread's default stack. */
const DEEP = ['['.repeat(2000) + ']'.repeat(2000), '{"a":'.repeat(3000) + '1' + '}'.repeat(3000), '['.repeat(50000) + ']'.repeat(50000)];

function spliceRaw(json: string, raw: string[]): string {
  return json
    .replace(/"@RAW(\d+)@"/g, (_, i) => raw[Number(i)])
    .replace(/"@DEEP(\d)@"/g, (_, i) => DEEP[Number(i)]);
}

/** A header of random tensors: offsets consistent half of the time, else hostile; maybe a hostile __metadata__. */
function randomHeader(r: Rng): { json: string; dataLen: number } {
  const raw: string[] = [];
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (let t = int(r, 5); t > 0; t--) {
    const dtype = r() < 0.8 ? pick(r, DTYPES.slice(0, 9)) : evil(r, raw);
    const shape = r() < 0.7 ? Array.from({ length: int(r, 3) }, () => int(r, 4)) : evil(r, raw);
    const count = Array.isArray(shape) ? shape.reduce((a: number, b) => a * (typeof b === 'number' ? b : 1), 1) : 1;
    const bytes = count * (typeof dtype === 'string' && Object.hasOwn(SIZE, dtype) ? SIZE[dtype] : 4);
    let offs: unknown = [offset, offset + bytes];
    const roll = r();
    if (roll < 0.15) offs = [Math.max(0, offset - int(r, 8)), offset - int(r, 8) + bytes]; // overlap
    else if (roll < 0.25) offs = [offset + bytes, offset]; // reversed
    else if (roll < 0.5) offs = evil(r, raw);
    header[pick(r, NAMES)] = r() < 0.9 ? { dtype, shape, data_offsets: offs } : evil(r, raw);
    if (Number.isFinite(bytes)) offset += bytes;
  }
  if (r() < 0.3) header.__metadata__ = r() < 0.5 ? { k: pick(r, ['v', 1, null, ['x']]) } : evil(r, raw);
  const dataLen = Math.max(0, Math.min(4096, offset + int(r, 16) - 8));
  return { json: spliceRaw(JSON.stringify(header), raw), dataLen };
}

function withHeader(json: string | Buffer, data: Buffer): Buffer {
  const body = typeof json === 'string' ? Buffer.from(json, 'utf8') : json;
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(body.length));
  return Buffer.concat([prefix, body, data]);
}

function randomBytes(r: Rng, n: number): Buffer {
  return Buffer.from(Array.from({ length: n }, () => int(r, 256)));
}

const KINDS = ['flip-header', 'flip-any', 'truncate', 'extend', 'header-length', 'random-json', 'mutate-entry', 'not-an-object', 'garbage'] as const;

/** Case `index` of the run: a pure function of (seed, index). */
function makeCase(bases: Buffer[], seed: number, index: number): { kind: string; bytes: Buffer } {
  const r = rngFor(seed * 1_000_003 + index);
  const kind = KINDS[index % KINDS.length];
  const base = pick(r, bases);
  const n = Number(base.readBigUInt64LE(0));
  const bytes = Buffer.from(base);
  switch (kind) {
    case 'flip-header':
      for (let k = int(r, 4) + 1; k > 0; k--) bytes[8 + int(r, n)] = r() < 0.5 ? pick(r, [...JSON_BYTES]) : int(r, 256);
      return { kind, bytes };
    case 'flip-any':
      for (let k = int(r, 4) + 1; k > 0; k--) bytes[int(r, bytes.length)] ^= 1 << int(r, 8);
      return { kind, bytes };
    case 'truncate':
      return { kind, bytes: bytes.subarray(0, int(r, bytes.length)) };
    case 'extend':
      return { kind, bytes: Buffer.concat([bytes, randomBytes(r, int(r, 64) + 1)]) };
    case 'header-length': {
      const big = [0n, 1n, 7n, BigInt(n - 1), BigInt(n + 1), BigInt(bytes.length - 8), BigInt(bytes.length - 7), 2n ** 32n + BigInt(n), 2n ** 53n, 2n ** 63n, 2n ** 64n - 1n];
      bytes.writeBigUInt64LE(r() < 0.8 ? pick(r, big) : BigInt(int(r, bytes.length + 16)), 0);
      return { kind, bytes };
    }
    case 'random-json': {
      const { json, dataLen } = randomHeader(r);
      return { kind, bytes: withHeader(json, randomBytes(r, dataLen)) };
    }
    case 'mutate-entry': {
      const header = JSON.parse(base.subarray(8, 8 + n).toString('utf8'));
      const names = Object.keys(header);
      const raw: string[] = [];
      const target = header[pick(r, names)];
      target[pick(r, ['dtype', 'shape', 'data_offsets', 'format', 'extra'])] = evil(r, raw);
      if (r() < 0.3) header[pick(r, NAMES)] = { ...header[pick(r, names)] }; // a duplicate region: overlap
      return { kind, bytes: withHeader(spliceRaw(JSON.stringify(header), raw), base.subarray(8 + n)) };
    }
    case 'not-an-object': {
      const body = pick(r, ['[]', '1', '"x"', 'null', 'true', '', ' ', '{', '{"a":}', DEEP[0], DEEP[2], '\uFEFF{}']);
      const enc = r() < 0.2 ? Buffer.from([0xc3, 0x28, 0x7b, 0x7d, 0xff]) : Buffer.from(body, 'utf8'); // invalid UTF-8
      return { kind, bytes: withHeader(enc, randomBytes(r, int(r, 32))) };
    }
    default:
      return { kind, bytes: randomBytes(r, int(r, 600)) };
  }
}

// ---- the worker: runs cases, records anything that is not a clean success or a ModelFormatError

interface Failure {
  index: number;
  kind: string;
  fn: string;
  error: string;
  stack: string;
}

/** Runs one reader call: accepted, rejected with a ModelFormatError naming the file, or a failure (message + stack). */
function classify(file: string, run: () => void): { accepted: boolean; failure?: { error: string; stack: string } } {
  try {
    run();
    return { accepted: true };
  } catch (e) {
    if (e instanceof ModelFormatError && e.message.startsWith(file)) return { accepted: false };
    const error = e instanceof ModelFormatError
      ? `ModelFormatError does not name the file: ${e.message.slice(0, 200)}`
      : `${(e as Error)?.name}: ${String((e as Error)?.message).slice(0, 300)}`;
    return { accepted: false, failure: { error, stack: String((e as Error)?.stack ?? e).split('\n').slice(0, 8).join('\n') } };
  }
}

/** readSafetensors must also return data that matches each accepted tensor's shape. */
function readAndCheck(file: string): void {
  for (const [name, t] of readSafetensors(file).tensors) {
    const want = t.shape.reduce((a, b) => a * b, 1);
    if (t.data.length !== want) throw new Error(`accepted tensor "${name}" has ${t.data.length} values for shape [${t.shape}]`);
  }
}

function runWorker(seed: number, count: number, progress: Int32Array): void {
  const bases = baseFiles();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'st-fuzz-'));
  const file = path.join(dir, 'case.safetensors');
  const failures: Failure[] = [];
  const outcomes: Record<string, { ok: number; rejected: number }> = {};
  for (let i = 0; i < count; i++) {
    Atomics.store(progress, 0, i);
    const { kind, bytes } = makeCase(bases, seed, i);
    fs.writeFileSync(file, bytes);
    const o = (outcomes[kind] ??= { ok: 0, rejected: 0 });
    let accepted = true;
    for (const [fn, run] of [['readSafetensors', () => readAndCheck(file)], ['readSafetensorsHeader', () => readSafetensorsHeader(file)]] as const) {
      const c = classify(file, run);
      accepted &&= c.accepted;
      if (c.failure) failures.push({ index: i, kind, fn, ...c.failure });
    }
    if (accepted) o.ok++;
    else o.rejected++;
  }
  Atomics.store(progress, 0, count);
  fs.rmSync(dir, { recursive: true, force: true });
  parentPort!.postMessage({ failures, outcomes });
}

if (!isMainThread && workerData?.safetensorsFuzz) {
  const { seed, count, progress } = workerData as { seed: number; count: number; progress: SharedArrayBuffer };
  runWorker(seed, count, new Int32Array(progress));
}

// ---- the test: start the worker, watch it, report

type WorkerResult = { failures: Failure[]; outcomes: Record<string, { ok: number; rejected: number }> };

/** The case's bytes, readably: the 8-byte prefix in hex, then the header text (cut), and the total length. */
function describeInput(bytes: Buffer): string {
  const text = bytes.subarray(8, 8 + 300).toString('utf8');
  return `prefix ${bytes.subarray(0, 8).toString('hex')}, then ${JSON.stringify(text)}${bytes.length > 308 ? '...' : ''} (${bytes.length} bytes)`;
}

/** Runs the cases in a worker; resolves with its result, or with the index of a case that made no progress. */
function runWatched(seed: number, count: number): Promise<WorkerResult | { hungAt: number }> {
  const progress = new SharedArrayBuffer(4);
  const at = new Int32Array(progress);
  // Worker threads do not inherit tsx's hooks: register them in the worker, then load this file there.
  const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  const code = `import(${tsx}).then(({ register }) => { register(); return import(${JSON.stringify(import.meta.url)}); })`;
  const worker = new Worker(code, { eval: true, workerData: { safetensorsFuzz: true, seed, count, progress } });
  let timer: NodeJS.Timeout | undefined;
  return new Promise<WorkerResult | { hungAt: number }>((resolve, reject) => {
    let last = -1;
    let since = Date.now();
    timer = setInterval(() => {
      const now = Atomics.load(at, 0);
      if (now !== last) [last, since] = [now, Date.now()];
      else if (Date.now() - since > HANG_MS) resolve({ hungAt: now });
    }, 100);
    worker.on('message', resolve);
    worker.on('error', reject);
  }).finally(() => {
    clearInterval(timer);
    return worker.terminate();
  });
}

/** One line per distinct crash site (error + first frame in src/), with the first input that reached it. */
function crashReport(failures: Failure[], bases: Buffer[]): string {
  const sites = new Map<string, { n: number; first: Failure }>();
  for (const f of failures) {
    const frame = f.stack.split('\n').find((l) => l.includes('/src/'))?.trim() ?? '?';
    const key = `${f.fn}: ${f.error} ${frame}`;
    const site = sites.get(key) ?? { n: 0, first: f };
    site.n++;
    sites.set(key, site);
  }
  return [...sites].map(([key, { n, first }]) => {
    const c = makeCase(bases, SEED, first.index);
    return `${n}x ${key}\n  e.g. case ${first.index} (${first.kind}): ${describeInput(c.bytes)}\n  ${first.stack.replaceAll('\n', '\n  ')}`;
  }).join('\n');
}

if (isMainThread) {
  test(`safetensors reader fuzz: ${CASES} mutated and random files give success or ModelFormatError, never a crash or hang`, async () => {
    const started = Date.now();
    const result = await runWatched(SEED, CASES);
    if ('hungAt' in result) {
      const c = makeCase(baseFiles(), SEED, result.hungAt);
      assert.fail(`case ${result.hungAt} (${c.kind}) ran over ${HANG_MS} ms; input: ${describeInput(c.bytes)}`);
    }
    const summary = Object.entries(result.outcomes).map(([k, o]) => `${k} ${o.ok}/${o.ok + o.rejected}`).join(', ');
    console.log(`fuzz: ${CASES} cases in ${Date.now() - started} ms; accepted per kind: ${summary}; failures: ${result.failures.length}`);
    if (result.failures.length > 0) {
      assert.fail(`${result.failures.length} reader calls failed other than with a ModelFormatError:\n${crashReport(result.failures, baseFiles())}`);
    }
    // every kind ran, and the mutations are neither all accepted nor all rejected
    assert.equal(Object.keys(result.outcomes).length, KINDS.length);
    assert.ok(result.outcomes.extend.ok > 0 && result.outcomes.garbage.rejected > 0);
  });

  test('a deeply nested value in a header entry is a ModelFormatError, not a stack overflow (fuzz finding)', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'st-deep-'));
    const deep = '['.repeat(5000) + ']'.repeat(5000);
    for (const field of ['dtype', 'shape', 'data_offsets']) {
      const entry: Record<string, string> = { dtype: '"F32"', shape: '[1]', data_offsets: '[0,4]', [field]: deep };
      const json = `{"t":{${Object.entries(entry).map(([k, v]) => `"${k}":${v}`).join(',')}}}`;
      const file = path.join(dir, `${field}.safetensors`);
      fs.writeFileSync(file, withHeader(json, Buffer.alloc(4)));
      assert.throws(() => readSafetensors(file), (e: Error) => e instanceof ModelFormatError && e.message.length < 500, `deep ${field}`);
    }
  });
}
