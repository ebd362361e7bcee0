import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ModelFormatError } from '../src/errors.ts';
import {
  readSafetensors,
  readSafetensorsHeader,
  readShardedSafetensors,
  writeSafetensors,
} from '../src/model/safetensors.ts';

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'st-test-'));
}

// ---- independent reference conversions (naive, written without the module's bit tricks)

function f32Bits(x: number): number {
  const dv = new DataView(new ArrayBuffer(4));
  dv.setFloat32(0, x, true);
  return dv.getUint32(0, true);
}

function bitsToF32(b: number): number {
  const dv = new DataView(new ArrayBuffer(4));
  dv.setUint32(0, b >>> 0, true);
  return dv.getFloat32(0, true);
}

/** Naive half decode: value = (-1)^s * 2^(e-15) * (1 + m/1024), subnormal 2^-14 * m/1024. */
function naiveHalfValue(h: number): number {
  const s = h >> 15 ? -1 : 1;
  const e = (h >> 10) & 31;
  const m = h & 1023;
  if (e === 31) return m === 0 ? s * Infinity : NaN;
  if (e === 0) return s * Math.pow(2, -14) * (m / 1024);
  return s * Math.pow(2, e - 15) * (1 + m / 1024);
}

const positiveHalves = Array.from({ length: 0x7c00 }, (_, h) => naiveHalfValue(h));

/** Naive f32 -> f16 -> f32: nearest finite half by brute force, ties to even bits, overflow at 65520. */
function naiveF16(xIn: number): number {
  const x = Math.fround(xIn);
  if (Number.isNaN(x)) return NaN;
  const a = Math.abs(x);
  const sign = x < 0 || Object.is(x, -0) ? -1 : 1;
  if (a >= 65520) return sign * Infinity;
  let best = 0;
  for (let h = 1; h < positiveHalves.length; h++) {
    const dBest = Math.abs(a - positiveHalves[best]);
    const d = Math.abs(a - positiveHalves[h]);
    if (d < dBest || (d === dBest && h % 2 === 0)) best = h;
    if (positiveHalves[h] > a) break;
  }
  return sign * positiveHalves[best];
}

/** Naive f32 -> bf16 -> f32: choose the closer of truncation and truncation+1ulp, ties to even. */
function naiveBf16(xIn: number): number {
  const x = Math.fround(xIn);
  if (Number.isNaN(x)) return NaN;
  if (!Number.isFinite(x) || (f32Bits(x) & 0xffff) === 0) return x;
  const lo = f32Bits(x) >>> 16;
  const loVal = bitsToF32(lo << 16);
  const hiRaw = bitsToF32((lo + 1) << 16);
  // Past the largest finite bf16, the next step is 2^128 as if the exponent were unbounded; rounding there overflows.
  const hiVal = Number.isFinite(hiRaw) ? hiRaw : Math.sign(x) * 2 ** 128;
  const dLo = Math.abs(x - loVal);
  const dHi = Math.abs(hiVal - x);
  if (dLo < dHi || (dLo === dHi && lo % 2 === 0)) return loVal;
  return Number.isFinite(hiRaw) ? hiVal : Math.sign(x) * Infinity;
}

const SPECIAL = [
  1, -2.5, 65504, 6e-8, 2 ** -24, 3e-5, 2 ** -14, 0.1, 1 / 3, -0, 0, 65519, 65520, 70000, 1e-8, 2 ** -25,
  3 * 2 ** -25, 1 + 2 ** -11, 1 + 3 * 2 ** -11, Infinity, -Infinity, NaN, 3.4e38, -1e-40, 1 + 2 ** -8, 1 + 3 * 2 ** -8,
];

function randomFloats(n: number): number[] {
  let seed = 12345;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  return Array.from({ length: n }, () => (rnd() - 0.5) * 2 ** Math.floor(rnd() * 44 - 28));
}

function sameFloat(actual: number, expected: number, ctx: string): void {
  if (Number.isNaN(expected)) assert.ok(Number.isNaN(actual), `${ctx}: expected NaN, got ${actual}`);
  else assert.ok(Object.is(actual, expected), `${ctx}: expected ${expected}, got ${actual}`);
}

test('known half values decode exactly (reference sanity)', () => {
  assert.equal(naiveHalfValue(0x3c00), 1);
  assert.equal(naiveHalfValue(0xc100), -2.5);
  assert.equal(naiveHalfValue(0x7bff), 65504);
  assert.equal(naiveHalfValue(0x0001), 2 ** -24);
  assert.equal(naiveF16(6e-8), 2 ** -24);
});

test('round trip F32 is bit exact', () => {
  const dir = tmpDir();
  const file = path.join(dir, 'a.safetensors');
  const data = Float32Array.from([...SPECIAL, ...randomFloats(100)]);
  writeSafetensors(file, { w: { shape: [data.length], data } }, { metadata: { format: 'pt' } });
  const { tensors, metadata } = readSafetensors(file);
  assert.deepEqual(metadata, { format: 'pt' });
  const t = tensors.get('w')!;
  assert.equal(t.dtype, 'F32');
  assert.deepEqual(new Uint32Array((t.data as Float32Array).buffer), new Uint32Array(data.buffer));
});

for (const [dtype, ref] of [['BF16', naiveBf16], ['F16', naiveF16]] as const) {
  test(`round trip ${dtype} matches a naive reference conversion`, () => {
    const dir = tmpDir();
    const file = path.join(dir, 'a.safetensors');
    const values = [...SPECIAL, ...randomFloats(400)];
    const data = Float32Array.from(values);
    writeSafetensors(file, new Map([['x', { shape: [2, data.length / 2], data }]]), { dtype });
    const t = readSafetensors(file).tensors.get('x')!;
    assert.equal(t.dtype, dtype);
    assert.deepEqual(t.shape, [2, data.length / 2]);
    assert.ok(t.data instanceof Float32Array);
    for (let i = 0; i < data.length; i++) sameFloat(t.data[i], ref(data[i]), `${dtype} of ${data[i]}`);
  });
}

test('every binary16 value survives an F16 round trip exactly', () => {
  const file = path.join(tmpDir(), 'all.safetensors');
  const data = Float32Array.from({ length: 65536 }, (_, h) => naiveHalfValue(h));
  writeSafetensors(file, { h: { shape: [65536], data } }, { dtype: 'F16' });
  const back = readSafetensors(file).tensors.get('h')!.data as Float32Array;
  for (let h = 0; h < 65536; h++) sameFloat(back[h], data[h], `half 0x${h.toString(16)}`);
  const raw = new Uint16Array(Uint8Array.from(fs.readFileSync(file).subarray(-2 * 65536)).buffer);
  assert.equal(raw[0x3c00], 0x3c00);
  assert.equal(raw[0x8001], 0x8001);
});

test('round trip I64 and I32, several tensors, sorted names and aligned header', () => {
  const dir = tmpDir();
  const file = path.join(dir, 'ints.safetensors');
  const i64 = BigInt64Array.from([0n, -1n, 2n ** 62n, -(2n ** 63n)]);
  const i32 = Int32Array.from([1, -2, 2 ** 31 - 1]);
  const f = Float32Array.from([1.5]);
  writeSafetensors(file, { zeta: { shape: [2, 2], data: i64 }, alpha: { shape: [3], data: i32 }, mid: { shape: [], data: f } });
  const buf = fs.readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  assert.equal((8 + n) % 8, 0);
  assert.deepEqual(Object.keys(JSON.parse(buf.subarray(8, 8 + n).toString())), ['alpha', 'mid', 'zeta']);
  const { tensors } = readSafetensors(file);
  assert.deepEqual(tensors.get('zeta'), { dtype: 'I64', shape: [2, 2], data: i64 });
  assert.deepEqual(tensors.get('alpha'), { dtype: 'I32', shape: [3], data: i32 });
  assert.deepEqual(tensors.get('mid')!.shape, []);
  const header = readSafetensorsHeader(file);
  assert.deepEqual(header.entries.get('zeta'), { dtype: 'I64', shape: [2, 2], dataOffsets: [16, 48] });
  assert.equal(header.unusedBytes, 0);
});

test('atomic write leaves no temp file, also when the rename fails', () => {
  const dir = tmpDir();
  const file = path.join(dir, 'm.safetensors');
  writeSafetensors(file, { a: { shape: [1], data: Float32Array.of(1) } });
  writeSafetensors(file, { a: { shape: [1], data: Float32Array.of(2) } });
  assert.deepEqual(fs.readdirSync(dir), ['m.safetensors']);
  assert.equal((readSafetensors(file).tensors.get('a')!.data as Float32Array)[0], 2);
  const target = path.join(dir, 'isadir');
  fs.mkdirSync(target);
  fs.writeFileSync(path.join(target, 'keep'), 'x');
  assert.throws(() => writeSafetensors(target, { a: { shape: [1], data: Float32Array.of(1) } }));
  assert.deepEqual(fs.readdirSync(dir).sort(), ['isadir', 'm.safetensors']);
  assert.throws(() => writeSafetensors(file, { a: { shape: [2], data: Float32Array.of(1) } }), ModelFormatError);
});

// ---- corrupt files

/** Builds a safetensors file by hand: header (object or raw string), data bytes, optional header length override. */
function craft(dir: string, name: string, header: unknown, dataLen = 0, lenOverride?: bigint): string {
  const hb = typeof header === 'string' ? Buffer.from(header, 'latin1') : Buffer.isBuffer(header) ? header : Buffer.from(JSON.stringify(header));
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(lenOverride ?? BigInt(hb.length));
  const file = path.join(dir, name);
  fs.writeFileSync(file, Buffer.concat([prefix, hb, Buffer.alloc(dataLen)]));
  return file;
}

const ok = { dtype: 'F32', shape: [2], data_offsets: [0, 8] };
const CORRUPT: [string, unknown, number, bigint?][] = [
  ['header-too-long', { a: ok }, 8, 10_000n],
  ['header-over-limit', { a: ok }, 8, 200_000_000n],
  ['bad-utf8', Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), 0],
  ['bad-json', '{"a": ', 0],
  ['not-object', [1, 2], 0],
  ['no-dtype', { a: { shape: [2], data_offsets: [0, 8] } }, 8],
  ['no-shape', { a: { dtype: 'F32', data_offsets: [0, 8] } }, 8],
  ['no-offsets', { a: { dtype: 'F32', shape: [2] } }, 8],
  ['entry-not-object', { a: 5 }, 8],
  ['unknown-dtype', { a: { dtype: 'F8', shape: [2], data_offsets: [0, 2] } }, 8],
  ['negative-dim', { a: { dtype: 'F32', shape: [-2], data_offsets: [0, 8] } }, 8],
  ['fractional-dim', { a: { dtype: 'F32', shape: [1.5], data_offsets: [0, 6] } }, 8],
  ['offsets-not-pair', { a: { dtype: 'F32', shape: [2], data_offsets: [0] } }, 8],
  ['offsets-fractional', { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8.5] } }, 8],
  ['offsets-reversed', { a: { dtype: 'F32', shape: [0], data_offsets: [8, 0] } }, 8],
  ['beyond-data', { a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, 8],
  ['length-mismatch', { a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, 8],
  ['overlap', { a: ok, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, 12],
  ['bad-metadata', { __metadata__: { n: 1 }, a: ok }, 8],
];

/** The reason each corrupt file must be rejected for (so an earlier, unrelated check cannot mask a missing one). */
const REASON: Record<string, RegExp> = {
  'header-too-long': /exceeds the file size/,
  'header-over-limit': /exceeds the 104857600-byte limit/,
  'bad-utf8': /UTF-8/,
  'bad-json': /JSON/,
  'not-object': /not a JSON object/,
  'no-dtype': /missing "dtype"/,
  'no-shape': /missing "shape"/,
  'no-offsets': /missing "data_offsets"/,
  'entry-not-object': /not an object/,
  'unknown-dtype': /unknown dtype "F8"/,
  'negative-dim': /shape must be .*\[-2\]/,
  'fractional-dim': /shape must be .*\[1\.5\]/,
  'offsets-not-pair': /data_offsets must be/,
  'offsets-fractional': /data_offsets must be/,
  'offsets-reversed': /start 8 > end 0/,
  'beyond-data': /beyond the data section/,
  'length-mismatch': /byte length 8 != 12/,
  overlap: /"b": overlaps tensor "a"/,
  'bad-metadata': /__metadata__ "n"/,
};

test('a file shorter than 8 bytes is a ModelFormatError naming the file', () => {
  const file = path.join(tmpDir(), 'short.safetensors');
  fs.writeFileSync(file, Buffer.from([1, 2, 3]));
  for (const read of [readSafetensors, readSafetensorsHeader]) {
    assert.throws(() => read(file), (e: unknown) => e instanceof ModelFormatError && e.message.includes('short.safetensors'));
  }
});

for (const [name, header, dataLen, lenOverride] of CORRUPT) {
  test(`corrupt file: ${name}`, () => {
    const file = craft(tmpDir(), `${name}.safetensors`, header, dataLen, lenOverride);
    const tensorNamed = typeof header === 'object' && header !== null && !Array.isArray(header) && !Buffer.isBuffer(header);
    for (const read of [readSafetensors, readSafetensorsHeader]) {
      assert.throws(
        () => read(file),
        (e: unknown) => {
          assert.ok(e instanceof ModelFormatError, `expected ModelFormatError, got ${String(e)}`);
          assert.ok(e.message.includes(`${name}.safetensors`), e.message);
          assert.match(e.message, REASON[name], e.message);
          if (tensorNamed && !name.startsWith('header') && name !== 'bad-metadata') assert.match(e.message, /tensor "[ab]"/);
          return true;
        },
      );
    }
  });
}

test('gaps between tensors are allowed and reported as unused bytes', () => {
  const file = craft(tmpDir(), 'gap.safetensors', { a: { dtype: 'F32', shape: [1], data_offsets: [8, 12] } }, 16);
  assert.equal(readSafetensorsHeader(file).unusedBytes, 12);
  assert.deepEqual([...(readSafetensors(file).tensors.get('a')!.data as Float32Array)], [0]);
});

test('a missing file is a ModelFormatError naming it', () => {
  const file = path.join(tmpDir(), 'nope.safetensors');
  assert.throws(() => readSafetensors(file), /nope\.safetensors/);
  assert.throws(() => readSafetensorsHeader(file), ModelFormatError);
});

// ---- sharded checkpoints

function writeSharded(dir: string, weightMap: Record<string, string>): void {
  writeSafetensors(path.join(dir, 'model-00001-of-00002.safetensors'), {
    a: { shape: [2], data: Float32Array.of(1, 2) },
    b: { shape: [1], data: Float32Array.of(3) },
  });
  writeSafetensors(path.join(dir, 'model-00002-of-00002.safetensors'), { c: { shape: [1, 1], data: Float32Array.of(4) } });
  const index = { metadata: { total_size: 16 }, weight_map: weightMap };
  fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify(index));
}

test('sharded checkpoint loads every tensor from the shard the index names', () => {
  const dir = tmpDir();
  const s1 = 'model-00001-of-00002.safetensors';
  const s2 = 'model-00002-of-00002.safetensors';
  writeSharded(dir, { a: s1, b: s1, c: s2 });
  const ck = readShardedSafetensors(dir);
  assert.deepEqual([...ck.tensors.keys()], ['a', 'b', 'c']);
  assert.deepEqual([...(ck.tensors.get('c')!.data as Float32Array)], [4]);
  assert.equal(ck.sourceOf.get('c'), path.join(dir, s2));
  assert.equal(ck.listFile, path.join(dir, 'model.safetensors.index.json'));
});

test('sharded checkpoint: tensor in the wrong shard is a named error', () => {
  const dir = tmpDir();
  writeSharded(dir, { a: 'model-00002-of-00002.safetensors', b: 'model-00001-of-00002.safetensors' });
  assert.throws(
    () => readShardedSafetensors(dir),
    (e: unknown) =>
      e instanceof ModelFormatError &&
      e.message.includes('model.safetensors.index.json') &&
      e.message.includes('"a"') &&
      e.message.includes('model-00001-of-00002.safetensors'),
  );
});

test('single-file checkpoint and missing weights folder', () => {
  const dir = tmpDir();
  assert.throws(
    () => readShardedSafetensors(dir),
    (e: unknown) => e instanceof ModelFormatError && e.message.includes(dir) && e.message.includes('model.safetensors'),
  );
  writeSafetensors(path.join(dir, 'model.safetensors'), { a: { shape: [1], data: Float32Array.of(7) } });
  const ck = readShardedSafetensors(dir);
  assert.equal(ck.sourceOf.get('a'), path.join(dir, 'model.safetensors'));
  fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { a: '../x' } }));
  assert.throws(() => readShardedSafetensors(dir), /weight_map "a"/);
});
