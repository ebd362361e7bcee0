/**
 * Reading and writing of the safetensors format (https://github.com/huggingface/safetensors):
 * 8-byte little-endian header length N, N bytes of UTF-8 JSON, then the raw little-endian data section.
 * Every defect in a file is reported as a ModelFormatError naming the file and the tensor at fault.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ModelFormatError } from '../errors.ts';
import { brief, oneLine } from '../util/brief.ts';
import { writeFileAtomic } from '../util/fs.ts';

/** Element types this module understands. */
export type StDtype = 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'F64' | 'U8' | 'I8' | 'BOOL';

/** Decoded tensor data: all float dtypes become Float32Array; I64 BigInt64Array; I32 Int32Array; U8/BOOL Uint8Array; I8 Int8Array. */
export type StData = Float32Array | BigInt64Array | Int32Array | Uint8Array | Int8Array;

/** One decoded tensor; `dtype` is the dtype stored in the file, not of `data`. */
export interface StTensor {
  dtype: StDtype;
  shape: number[];
  data: StData;
}

/** Header entry of one tensor; offsets are relative to the start of the data section. */
export interface StHeaderEntry {
  dtype: StDtype;
  shape: number[];
  dataOffsets: [number, number];
}

/** Parsed and validated header of a safetensors file. */
export interface StHeader {
  entries: Map<string, StHeaderEntry>;
  metadata: Record<string, string>;
  /** Absolute file offset where the data section starts (8 + header length). */
  dataStart: number;
  /** Bytes in the data section not covered by any tensor (gaps are legal, only noted here). */
  unusedBytes: number;
}

/** Tensor data accepted by {@link writeSafetensors}. */
export interface StWritable {
  shape: number[];
  data: Float32Array | BigInt64Array | Int32Array;
}

/** Options of {@link writeSafetensors}: `dtype` applies to float tensors only (default F32). */
export interface StWriteOptions {
  dtype?: 'F32' | 'BF16' | 'F16';
  metadata?: Record<string, string>;
}

const DTYPE_SIZE: Record<StDtype, number> = { F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, F64: 8, U8: 1, I8: 1, BOOL: 1 };
const MAX_HEADER_BYTES = 100 * 1024 * 1024;
const INDEX_FILE = 'model.safetensors.index.json';
const SINGLE_FILE = 'model.safetensors';

function fail(file: string, what: string, msg: string): never {
  throw new ModelFormatError(`${file}: ${what}: ${msg}`);
}

function requireLittleEndian(file: string): void {
  if (os.endianness() !== 'LE') fail(file, 'host', 'safetensors I/O needs a little-endian host');
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parseEntry(file: string, name: string, raw: unknown, dataLen: number): StHeaderEntry {
  const what = `tensor ${brief(name)}`;
  if (!isPlainObject(raw)) fail(file, what, 'header entry is not an object');
  const { dtype, shape, data_offsets: offs } = raw;
  if (dtype === undefined) fail(file, what, 'missing "dtype"');
  if (shape === undefined) fail(file, what, 'missing "shape"');
  if (offs === undefined) fail(file, what, 'missing "data_offsets"');
  if (typeof dtype !== 'string' || !Object.hasOwn(DTYPE_SIZE, dtype)) {
    fail(file, what, `unknown dtype ${brief(dtype)}`);
  }
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    fail(file, what, `shape must be an array of non-negative integers, got ${brief(shape)}`);
  }
  if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o) && o >= 0)) {
    fail(file, what, `data_offsets must be [start, end] non-negative integers, got ${brief(offs)}`);
  }
  const [start, end] = offs as [number, number];
  if (start > end) fail(file, what, `data_offsets start ${start} > end ${end}`);
  if (end > dataLen) fail(file, what, `data_offsets end ${end} is beyond the data section (${dataLen} bytes)`);
  const dt = dtype as StDtype;
  const expected = (shape as number[]).reduce((a, b) => a * b, 1) * DTYPE_SIZE[dt];
  if (end - start !== expected) {
    fail(file, what, `byte length ${end - start} != ${expected} for ${dt} shape [${shape.join(', ')}]`);
  }
  return { dtype: dt, shape: [...(shape as number[])], dataOffsets: [start, end] };
}

function parseMetadata(file: string, raw: unknown): Record<string, string> {
  if (raw === undefined) return {};
  if (!isPlainObject(raw)) fail(file, '__metadata__', 'is not an object');
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v !== 'string') fail(file, `__metadata__ ${brief(k)}`, 'value is not a string');
    out[k] = v;
  }
  return out;
}

/** Rejects overlapping tensors and returns how many data-section bytes no tensor covers. */
function checkLayout(file: string, entries: Map<string, StHeaderEntry>, dataLen: number): number {
  const sorted = [...entries].filter(([, e]) => e.dataOffsets[1] > e.dataOffsets[0]);
  sorted.sort((a, b) => a[1].dataOffsets[0] - b[1].dataOffsets[0]);
  let used = 0;
  for (let i = 0; i < sorted.length; i++) {
    const [name, e] = sorted[i];
    if (i > 0 && e.dataOffsets[0] < sorted[i - 1][1].dataOffsets[1]) {
      fail(file, `tensor ${brief(name)}`, `overlaps tensor ${brief(sorted[i - 1][0])}`);
    }
    used += e.dataOffsets[1] - e.dataOffsets[0];
  }
  return dataLen - used;
}

function parseHeaderBytes(file: string, bytes: Uint8Array, dataStart: number, fileSize: number): StHeader {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    fail(file, 'header', `not valid UTF-8 JSON (${oneLine((e as Error).message)})`);
  }
  if (!isPlainObject(json)) fail(file, 'header', 'is not a JSON object');
  const dataLen = fileSize - dataStart;
  const entries = new Map<string, StHeaderEntry>();
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(json)) {
    if (name === '__metadata__') metadata = parseMetadata(file, raw);
    else entries.set(name, parseEntry(file, name, raw, dataLen));
  }
  const unusedBytes = checkLayout(file, entries, dataLen);
  return { entries, metadata, dataStart, unusedBytes };
}

function checkHeaderLength(file: string, prefix: Buffer, fileSize: number): number {
  if (fileSize < 8) fail(file, 'header', `file is ${fileSize} bytes, shorter than the 8-byte length prefix`);
  const n = prefix.readBigUInt64LE(0);
  if (n > BigInt(MAX_HEADER_BYTES)) fail(file, 'header', `header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  if (n > BigInt(fileSize - 8)) fail(file, 'header', `header length ${n} exceeds the file size minus 8 (${fileSize - 8})`);
  return Number(n);
}

/** Reads and validates only the header of a safetensors file (cheap: no tensor data is read). */
export function readSafetensorsHeader(file: string): StHeader {
  const fd = openOrFail(file);
  try {
    const size = fs.fstatSync(fd).size;
    const prefix = Buffer.alloc(8);
    fs.readSync(fd, prefix, 0, Math.min(8, size), 0);
    const n = checkHeaderLength(file, prefix, size);
    const bytes = Buffer.alloc(n);
    if (fs.readSync(fd, bytes, 0, n, 8) !== n) fail(file, 'header', 'short read');
    return parseHeaderBytes(file, bytes, 8 + n, size);
  } finally {
    fs.closeSync(fd);
  }
}

function openOrFail(file: string): number {
  try {
    return fs.openSync(file, 'r');
  } catch (e) {
    fail(file, 'file', `cannot open (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

let f16Table: Float32Array | undefined;

/** Exact value of an IEEE binary16 bit pattern (subnormals, ±0, ±Infinity, NaN). */
export function f16BitsToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 31) return mant ? NaN : sign * Infinity;
  return sign * (1024 + mant) * 2 ** (exp - 25);
}

/** binary32 bit pattern (as uint32) -> binary16 bits, rounding to nearest-even; overflow gives ±Infinity. */
export function f32BitsToF16Bits(bits: number): number {
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 112; // re-biased exponent (127 -> 15)
  if (e >= 31) return sign | 0x7c00;
  if (e < -10) return sign; // below half of the smallest subnormal: rounds to ±0
  // Normal: keep exponent and top 10 mantissa bits. Subnormal: shift the mantissa (with its implicit 1) down.
  const full = e > 0 ? mant : mant | 0x800000;
  const shift = e > 0 ? 13 : 14 - e;
  let keep = e > 0 ? (e << 10) | (mant >>> 13) : full >>> shift;
  const rem = full & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  if (rem > half || (rem === half && (keep & 1))) keep++; // a carry correctly reaches the next exponent / Infinity
  return sign | keep;
}

/** binary32 bit pattern (as uint32) -> bfloat16 bits, rounding to nearest-even; NaN stays a quiet NaN. */
export function f32BitsToBf16Bits(bits: number): number {
  if ((bits & 0x7fffffff) > 0x7f800000) return ((bits >>> 16) & 0x8000) | 0x7fc0;
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

function decodeFloat(dtype: StDtype, bytes: Uint8Array): Float32Array {
  const buf = bytes.buffer as ArrayBuffer;
  if (dtype === 'F32') return new Float32Array(buf);
  if (dtype === 'F64') return Float32Array.from(new Float64Array(buf));
  const src = new Uint16Array(buf);
  const out = new Float32Array(src.length);
  if (dtype === 'BF16') {
    const outBits = new Uint32Array(out.buffer);
    for (let i = 0; i < src.length; i++) outBits[i] = src[i] << 16;
    return out;
  }
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f16BitsToNumber(h);
  }
  for (let i = 0; i < src.length; i++) out[i] = f16Table[src[i]];
  return out;
}

/** Copies the bytes of one tensor into a fresh aligned buffer and views it with the right typed array. */
function decodeTensor(entry: StHeaderEntry, buf: Buffer, dataStart: number): StTensor {
  const [start, end] = entry.dataOffsets;
  const bytes = new Uint8Array(end - start);
  bytes.set(buf.subarray(dataStart + start, dataStart + end));
  const ab = bytes.buffer as ArrayBuffer;
  let data: StData;
  switch (entry.dtype) {
    case 'I64': data = new BigInt64Array(ab); break;
    case 'I32': data = new Int32Array(ab); break;
    case 'I8': data = new Int8Array(ab); break;
    case 'U8': case 'BOOL': data = bytes; break;
    default: data = decodeFloat(entry.dtype, bytes);
  }
  return { dtype: entry.dtype, shape: [...entry.shape], data };
}

/** Reads a whole safetensors file, validating the header and decoding every tensor. */
export function readSafetensors(file: string): { tensors: Map<string, StTensor>; metadata: Record<string, string> } {
  requireLittleEndian(file);
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    fail(file, 'file', `cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const n = checkHeaderLength(file, buf, buf.length);
  const header = parseHeaderBytes(file, buf.subarray(8, 8 + n), 8 + n, buf.length);
  const tensors = new Map<string, StTensor>();
  for (const [name, entry] of header.entries) tensors.set(name, decodeTensor(entry, buf, header.dataStart));
  return { tensors, metadata: header.metadata };
}

/** Result of {@link readShardedSafetensors}; `sourceOf` maps each tensor name to the file it was read from. */
export interface StCheckpoint {
  tensors: Map<string, StTensor>;
  metadata: Record<string, string>;
  /** The file that declares the tensor list: the index json, or model.safetensors. */
  listFile: string;
  sourceOf: Map<string, string>;
}

function readWeightMap(indexPath: string): Map<string, string> {
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(indexPath, 'utf8'));
  } catch (e) {
    fail(indexPath, 'index', `cannot read as JSON (${(e as Error).message})`);
  }
  if (!isPlainObject(json) || !isPlainObject(json.weight_map)) fail(indexPath, 'weight_map', 'missing or not an object');
  const map = new Map<string, string>();
  for (const [name, shard] of Object.entries(json.weight_map)) {
    if (typeof shard !== 'string' || shard === '' || path.isAbsolute(shard) || shard.split(/[\\/]/).includes('..')) {
      fail(indexPath, `weight_map ${brief(name)}`, `invalid shard file name ${brief(shard)}`);
    }
    map.set(name, shard);
  }
  return map;
}

/**
 * Reads a checkpoint folder: `model.safetensors.index.json` + shards if the index exists (each shard read once,
 * every indexed tensor verified to be in the shard the index names), else `model.safetensors`.
 * Only tensors listed in the index are returned for sharded checkpoints; `metadata` merges the shards' metadata.
 */
export function readShardedSafetensors(dir: string): StCheckpoint {
  const indexPath = path.join(dir, INDEX_FILE);
  const singlePath = path.join(dir, SINGLE_FILE);
  if (!fs.existsSync(indexPath)) {
    if (!fs.existsSync(singlePath)) fail(dir, 'weights', `neither ${INDEX_FILE} nor ${SINGLE_FILE} exists`);
    const { tensors, metadata } = readSafetensors(singlePath);
    const sourceOf = new Map([...tensors.keys()].map((k) => [k, singlePath]));
    return { tensors, metadata, listFile: singlePath, sourceOf };
  }
  const weightMap = readWeightMap(indexPath);
  const shards = new Map<string, Map<string, StTensor>>();
  const metadata: Record<string, string> = {};
  for (const shard of new Set(weightMap.values())) {
    const read = readSafetensors(path.join(dir, shard));
    shards.set(shard, read.tensors);
    Object.assign(metadata, read.metadata);
  }
  const tensors = new Map<string, StTensor>();
  const sourceOf = new Map<string, string>();
  for (const [name, shard] of weightMap) {
    const t = shards.get(shard)!.get(name);
    if (!t) {
      const actual = [...shards].find(([, m]) => m.has(name))?.[0];
      const where = actual ? `it is in ${actual}` : 'no shard has it';
      fail(indexPath, `tensor ${brief(name)}`, `index says it is in ${shard} but it is not there (${where})`);
    }
    tensors.set(name, t);
    sourceOf.set(name, path.join(dir, shard));
  }
  return { tensors, metadata, listFile: indexPath, sourceOf };
}

function encodeTensor(
  file: string,
  name: string,
  t: StWritable,
  floatType: 'F32' | 'BF16' | 'F16',
): { dtype: StDtype; bytes: Uint8Array } {
  const count = t.shape.reduce((a, b) => a * b, 1);
  if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0) || count !== t.data.length) {
    fail(file, `tensor ${brief(name)}`, `shape [${t.shape.join(', ')}] does not match ${t.data.length} elements`);
  }
  const raw = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  if (t.data instanceof BigInt64Array) return { dtype: 'I64', bytes: raw };
  if (t.data instanceof Int32Array) return { dtype: 'I32', bytes: raw };
  if (floatType === 'F32') return { dtype: 'F32', bytes: raw };
  const bits = new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length);
  const out = new Uint16Array(bits.length);
  const conv = floatType === 'BF16' ? f32BitsToBf16Bits : f32BitsToF16Bits;
  for (let i = 0; i < bits.length; i++) out[i] = conv(bits[i]);
  return { dtype: floatType, bytes: new Uint8Array(out.buffer) };
}

/**
 * Writes tensors as a safetensors file, atomically (temp file + rename; the temp file is removed on failure).
 * Float tensors are stored as `opts.dtype` (F32 default; BF16/F16 rounded to nearest-even), Int32/BigInt64 as I32/I64.
 * Names are sorted; the header is space-padded so the data section starts 8-byte aligned.
 */
export function writeSafetensors(
  file: string,
  tensors: Record<string, StWritable> | Map<string, StWritable>,
  opts: StWriteOptions = {},
): void {
  requireLittleEndian(file);
  const entries = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const header: Record<string, unknown> = {};
  if (opts.metadata) header.__metadata__ = parseMetadata(file, opts.metadata);
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of entries) {
    if (name === '__metadata__') fail(file, `tensor ${brief(name)}`, 'reserved name');
    const { dtype, bytes } = encodeTensor(file, name, t, opts.dtype ?? 'F32');
    header[name] = { dtype, shape: t.shape, data_offsets: [offset, offset + bytes.length] };
    chunks.push(bytes);
    offset += bytes.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  writeFileAtomic(file, [prefix, Buffer.from(json, 'utf8'), ...chunks]);
}


