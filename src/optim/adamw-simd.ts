/**
 * The AdamW element update as a WebAssembly SIMD kernel (4 float32 lanes), for parameter tensors of 10^8-10^9
 * elements where the scalar JS loop is compute-bound. The module is assembled here from its opcodes (no toolchain,
 * nothing downloaded). It works on one chunk at a time in its own memory: the caller copies a chunk of p, g, m, v
 * in (cache-resident memcpy), runs the kernel, and copies p, m, v back; DRAM sees each array once, as in the
 * scalar loop. The arithmetic is float32, as torch.optim.AdamW's is:
 *
 *   g' = g clip;  m = b1 m + (1 - b1) g';  v = b2 v + (1 - b2) g'^2;  p = p decay - step m / (sqrt(v) / sqrt(bc2) + eps)
 */

/** Elements per chunk (4 arrays x 64 KB: well inside L2). */
export const SIMD_CHUNK = 16384;

// ---- a minimal WebAssembly assembler: only what the kernel uses ----
const uleb = (n: number): number[] => {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
};
const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
const name = (s: string): number[] => vec([...s].map((c) => [c.charCodeAt(0)]));

const I32 = 0x7f;
const F32 = 0x7d;
const V128 = 0x7b;
const op = {
  localGet: (i: number) => [0x20, ...uleb(i)],
  localSet: (i: number) => [0x21, ...uleb(i)],
  localTee: (i: number) => [0x22, ...uleb(i)],
  i32Const: (n: number) => [0x41, ...uleb(n)], // non-negative constants only
  i32Add: [0x6a],
  i32LtU: [0x49],
  brIf: (depth: number) => [0x0d, ...uleb(depth)],
  block: [0x02, 0x40],
  loop: [0x03, 0x40],
  end: [0x0b],
  simd: (code: number) => [0xfd, ...uleb(code)],
};
const v128Load = (offset: number) => [...op.simd(0x00), 4, ...uleb(offset)]; // align 2^4
const v128Store = (offset: number) => [...op.simd(0x0b), 4, ...uleb(offset)];
const f32x4 = { splat: op.simd(0x13), sqrt: op.simd(0xe3), add: op.simd(0xe4), sub: op.simd(0xe5), mul: op.simd(0xe6), div: op.simd(0xe7) };

/** Scalar parameters of the kernel, in order (after the element count). */
const SCALARS = ['clip', 'b1', 'oneMinusB1', 'b2', 'oneMinusB2', 'stepSize', 'invBc2Sqrt', 'eps', 'decay'] as const;

/** adamw(n, ...SCALARS): p, g, m, v are float32[SIMD_CHUNK] at byte offsets 0, 4C, 8C, 12C; n elements, a multiple of 4. */
function kernelBody(): number[] {
  const C4 = SIMD_CHUNK * 4;
  const nParams = 1 + SCALARS.length;
  const splat = SCALARS.map((_, k) => nParams + k); // v128 locals holding each scalar in 4 lanes
  const [i, end, gi, mi, vi] = [nParams + SCALARS.length, nParams + SCALARS.length + 1, ...[2, 3, 4].map((k) => nParams + SCALARS.length + k)];
  const S = (s: (typeof SCALARS)[number]) => op.localGet(splat[SCALARS.indexOf(s)]);
  const at = (offset: number) => [...op.localGet(i), ...v128Load(offset)];
  const code = [
    ...SCALARS.flatMap((_, k) => [...op.localGet(1 + k), ...f32x4.splat, ...op.localSet(splat[k])]),
    ...op.localGet(0), ...op.i32Const(4), 0x6c /* i32.mul */, ...op.localSet(end), // end = 4 n bytes
    ...op.block, ...op.loop,
    ...op.localGet(i), ...op.localGet(end), ...op.i32LtU, 0x45 /* i32.eqz */, ...op.brIf(1),
    // gi = g clip
    ...at(C4), ...S('clip'), ...f32x4.mul, ...op.localSet(gi),
    // mi = b1 m + (1 - b1) gi
    ...S('b1'), ...at(2 * C4), ...f32x4.mul, ...S('oneMinusB1'), ...op.localGet(gi), ...f32x4.mul, ...f32x4.add, ...op.localSet(mi),
    // vi = b2 v + (1 - b2) gi gi
    ...S('b2'), ...at(3 * C4), ...f32x4.mul, ...S('oneMinusB2'), ...op.localGet(gi), ...f32x4.mul, ...op.localGet(gi), ...f32x4.mul, ...f32x4.add, ...op.localSet(vi),
    ...op.localGet(i), ...op.localGet(mi), ...v128Store(2 * C4),
    ...op.localGet(i), ...op.localGet(vi), ...v128Store(3 * C4),
    // p = p decay - stepSize mi / (sqrt(vi) invBc2Sqrt + eps)
    ...op.localGet(i),
    ...at(0), ...S('decay'), ...f32x4.mul,
    ...S('stepSize'), ...op.localGet(mi), ...f32x4.mul,
    ...op.localGet(vi), ...f32x4.sqrt, ...S('invBc2Sqrt'), ...f32x4.mul, ...S('eps'), ...f32x4.add,
    ...f32x4.div, ...f32x4.sub, ...v128Store(0),
    ...op.localGet(i), ...op.i32Const(16), ...op.i32Add, ...op.localSet(i),
    0x0c, 0 /* br 0: continue the loop */,
    ...op.end, ...op.end, ...op.end,
  ];
  const locals = vec([[...uleb(SCALARS.length), V128], [...uleb(2), I32], [...uleb(3), V128]]);
  const body = [...locals, ...code];
  return [...uleb(body.length), ...body];
}

function moduleBytes(): Uint8Array<ArrayBuffer> {
  const pages = Math.ceil((4 * SIMD_CHUNK * 4) / 65536);
  const type = section(1, vec([[0x60, ...vec([[I32], ...SCALARS.map(() => [F32])]), ...vec([])]]));
  const func = section(3, vec([[0]]));
  const memory = section(5, vec([[0x00, ...uleb(pages)]]));
  const exports = section(7, vec([[...name('adamw'), 0x00, 0], [...name('memory'), 0x02, 0]]));
  const code = section(10, vec([kernelBody()]));
  return new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, ...type, ...func, ...memory, ...exports, ...code]);
}

export interface SimdScalars {
  clip: number;
  b1: number;
  b2: number;
  stepSize: number;
  invBc2Sqrt: number;
  eps: number;
  decay: number;
}

type Kernel = (n: number, ...scalars: number[]) => void;

/** The compiled kernel and views of its chunk buffers, or null where WebAssembly SIMD is not available. */
function instantiate(): { run: Kernel; p: Float32Array; g: Float32Array; m: Float32Array; v: Float32Array } | null {
  try {
    const bytes = moduleBytes();
    if (!WebAssembly.validate(bytes)) return null;
    const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes));
    const buffer = (instance.exports.memory as WebAssembly.Memory).buffer;
    const view = (k: number) => new Float32Array(buffer, k * SIMD_CHUNK * 4, SIMD_CHUNK);
    return { run: instance.exports.adamw as Kernel, p: view(0), g: view(1), m: view(2), v: view(3) };
  } catch {
    return null;
  }
}

const kernel = instantiate();

/** True when the SIMD kernel runs here (else callers use the scalar loop). */
export const simdAvailable = kernel !== null;

/**
 * Updates elements [0, n4) of p, m, v in place, n4 a multiple of 4 (the caller does the tail). Chunk by chunk:
 * copy in, run, copy p, m, v back.
 */
export function adamwSimd(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, n4: number, s: SimdScalars): void {
  if (!kernel) throw new Error('adamwSimd: WebAssembly SIMD is not available');
  const args = [s.clip, s.b1, 1 - s.b1, s.b2, 1 - s.b2, s.stepSize, s.invBc2Sqrt, s.eps, s.decay];
  for (let start = 0; start < n4; start += SIMD_CHUNK) {
    const stop = Math.min(n4, start + SIMD_CHUNK);
    kernel.p.set(p.subarray(start, stop));
    kernel.g.set(g.subarray(start, stop));
    kernel.m.set(m.subarray(start, stop));
    kernel.v.set(v.subarray(start, stop));
    const n = stop - start;
    kernel.run(n, ...args);
    p.set(kernel.p.subarray(0, n), start);
    m.set(kernel.m.subarray(0, n), start);
    v.set(kernel.v.subarray(0, n), start);
  }
}
