/**
 * Fuzz target: the safetensors header parser (src/model/safetensors.ts readSafetensorsHeader, then
 * readSafetensors). A file is an 8-byte length prefix (right, wrong or huge), a JSON header of tensor entries
 * (plausible, off by one, or any value) and a data section; the reader either returns tensors that match their
 * header, or throws a ModelFormatError naming the file.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { ModelFormatError } from '../../../src/errors.ts';
import { readSafetensors, readSafetensorsHeader } from '../../../src/model/safetensors.ts';
import { awkwardJson, awkwardNumber, awkwardString, jsonText, params, typedOrValue, type FuzzProperty } from './common.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fuzz-safetensors-'));
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
const DTYPES = ['F32', 'F16', 'BF16', 'I64', 'I32', 'F64', 'U8', 'I8', 'BOOL'];
const SIZE: Record<string, number> = { F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, F64: 8, U8: 1, I8: 1, BOOL: 1 };

/** A tensor entry laid out at `offset`: usually consistent, sometimes with one field replaced. */
const entry = fc.record({
  dtype: fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...DTYPES) }, { weight: 1, arbitrary: fc.oneof(fc.constantFrom('f32', 'F8_E4M3', 'U16', ''), awkwardJson) }),
  shape: fc.oneof({ weight: 6, arbitrary: fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 3 }) }, { weight: 1, arbitrary: fc.oneof(fc.array(awkwardNumber, { maxLength: 3 }), awkwardJson) }),
  offsetSkew: fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: -9, max: 9 }) }),
  replace: fc.option(fc.record({ field: fc.constantFrom('dtype', 'shape', 'data_offsets', 'extra'), value: fc.oneof(awkwardNumber, awkwardJson) }), { freq: 6 }),
});

interface FileSpec {
  header: Record<string, unknown>;
  dataBytes: number;
}

/** Lays entries out one after another (what a writer does), then applies each entry's perturbation. */
const fileSpec: fc.Arbitrary<FileSpec> = fc
  .record({
    entries: fc.array(fc.tuple(fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('__metadata__', 'w', '')), entry), { maxLength: 5 }),
    metadata: fc.option(fc.oneof(fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }), { maxKeys: 3, noNullPrototype: true }), awkwardJson), { freq: 2 }),
    dataSlack: fc.integer({ min: -8, max: 16 }),
  })
  .map(({ entries, metadata, dataSlack }) => {
    const header: Record<string, unknown> = {};
    let offset = 0;
    for (const [name, e] of entries) {
      const count = Array.isArray(e.shape) && e.shape.every((d) => typeof d === 'number') ? (e.shape as number[]).reduce((a, b) => a * b, 1) : 1;
      const bytes = Number.isFinite(count) ? count * (typeof e.dtype === "string" && Object.hasOwn(SIZE, e.dtype) ? SIZE[e.dtype] : 1) : 0;
      const start = Math.max(0, offset + e.offsetSkew);
      const raw: Record<string, unknown> = { dtype: e.dtype, shape: e.shape, data_offsets: [start, start + Math.max(0, Math.min(bytes, 4096))] };
      if (e.replace) raw[e.replace.field] = e.replace.value;
      header[name] = raw;
      offset = start + Math.max(0, Math.min(bytes, 4096));
    }
    if (metadata !== null) header.__metadata__ = metadata;
    return { header, dataBytes: Math.max(0, offset + dataSlack) };
  });

/** The bytes of a file: the length prefix is right, or off, or any 64-bit value; the header text may be cut. */
const fileBytes = fc
  .record({
    spec: fileSpec,
    prefix: fc.oneof({ weight: 6, arbitrary: fc.constant<'right'>('right') }, { weight: 1, arbitrary: fc.integer({ min: -16, max: 16 }) }, { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }) }),
    cut: fc.option(fc.nat(), { freq: 8 }),
    padding: fc.constantFrom('', ' ', '  \n'),
  })
  .map(({ spec, prefix, cut, padding }) => {
    let headerText = jsonText(spec.header) + padding;
    if (cut !== null) headerText = headerText.slice(0, cut % (headerText.length + 1));
    const header = Buffer.from(headerText, 'utf8');
    const length = prefix === 'right' ? BigInt(header.length) : typeof prefix === 'number' ? BigInt(Math.max(0, header.length + prefix)) : prefix;
    const out = Buffer.alloc(8 + header.length + spec.dataBytes, 0x3c);
    out.writeBigUInt64LE(length, 0);
    header.copy(out, 8);
    return out;
  });

let fileCount = 0;

/** Writes `bytes` and reads them back; on success every tensor matches its header entry. */
function readBack(bytes: Uint8Array): void {
  const file = path.join(dir, `f${fileCount++ % 8}.safetensors`);
  fs.writeFileSync(file, bytes);
  const header = typedOrValue(() => readSafetensorsHeader(file), [ModelFormatError]);
  const full = typedOrValue(() => readSafetensors(file), [ModelFormatError]);
  for (const { error } of [header, full]) if (error) assert.ok(error.message.startsWith(`${file}: `), error.message);
  assert.equal(header.error === undefined, full.error === undefined, `header ${header.error?.message ?? 'ok'} vs file ${full.error?.message ?? 'ok'}`);
  if (!full.value) return;
  for (const [name, e] of header.value!.entries) {
    const t = full.value.tensors.get(name);
    assert.ok(t, `tensor ${name} missing`);
    assert.deepEqual(t.shape, e.shape);
    assert.equal(t.data.length, e.shape.reduce((a, b) => a * b, 1), `tensor ${name}: data length`);
  }
}

export const safetensorsProperties: FuzzProperty[] = [
  { name: 'structured files (header entries, length prefix, data size)', weight: 8, run: (n, seed) => fc.assert(fc.property(fileBytes, readBack), params(n, seed)) },
  { name: 'any bytes', weight: 1, run: (n, seed) => fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), readBack), params(n, seed)) },
  {
    name: 'a right prefix before any header text',
    weight: 1,
    run: (n, seed) =>
      fc.assert(
        fc.property(fc.oneof(awkwardString, awkwardJson.map(jsonText)), (text) => {
          const header = Buffer.from(text, 'utf8');
          const out = Buffer.alloc(8 + header.length);
          out.writeBigUInt64LE(BigInt(header.length), 0);
          header.copy(out, 8);
          readBack(out);
        }),
        params(n, seed),
      ),
  },
];
