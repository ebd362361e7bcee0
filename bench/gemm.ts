/**
 * The machine's GEMM rate as our stack sees it: one Gemm node (A[M,K] @ B[K,N]) built with our tensor layer and
 * run through our Runtime. The rate includes the per-run host overhead (feeding the inputs, returning C), which
 * is small next to 2*M*N*K FLOPs at these sizes.
 *
 * Why K = 1024 and not 256: with 2 threads and no spinning, a 1024x256x1024 Gemm (~1.3 ms) is often finished by
 * the calling thread before ORT's sleeping worker wakes up, so its time is bimodal (1.3 ms with both threads,
 * 2.4 ms with one) and its median measured the one-thread rate about half the time. At 1024x1024x1024 (~5 ms)
 * both threads engage on every run and the rate is stable (~430 GFLOP/s on this VM against ~225 for the
 * one-thread mode), i.e. it is the machine's 2-thread GEMM rate.
 */
import { Graph, matmul, toOnnx } from '../src/tensor/index.ts';
import type { CompiledGraph, Runtime } from '../src/runtime/runtime.ts';

export interface GemmShape {
  M: number;
  K: number;
  N: number;
}

export const GEMM_SHAPE: GemmShape = { M: 1024, K: 1024, N: 1024 };

/** Serialised graph a[M,K] @ b[K,N] -> c (rank 2, so it is emitted as a single ONNX Gemm). */
export function buildGemmGraph({ M, K, N }: GemmShape): Uint8Array {
  const g = new Graph(`gemm_${M}x${K}x${N}`);
  const a = g.input('a', [M, K]);
  const b = g.input('b', [K, N]);
  return toOnnx(g, { c: matmul(a, b) });
}

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** A compiled Gemm with fixed random inputs; `measure` times a few runs and returns the median GFLOP/s. */
export class GemmBench {
  private constructor(
    readonly shape: GemmShape,
    private readonly session: CompiledGraph,
    private readonly a: Float32Array,
    private readonly b: Float32Array,
  ) {}

  static async create(runtime: Runtime, shape: GemmShape = GEMM_SHAPE): Promise<GemmBench> {
    const { M, K, N } = shape;
    const session = await runtime.compile(`bench/gemm/${M}x${K}x${N}`, () => buildGemmGraph(shape));
    const fill = (n: number) => Float32Array.from({ length: n }, () => Math.random() - 0.5);
    const bench = new GemmBench(shape, session, fill(M * K), fill(K * N));
    await bench.measure(10); // warm-up: first runs allocate the arena and spin up the thread pool
    return bench;
  }

  get flops(): number {
    const { M, K, N } = this.shape;
    return 2 * M * N * K;
  }

  /**
   * Median GFLOP/s over `reps` back-to-back runs, after `warm` untimed runs: right after other work (a train
   * step) the first few runs are up to 2x slower while the thread pool and caches come back.
   */
  async measure(reps = 10, warm = 5): Promise<number> {
    const { M, K, N } = this.shape;
    const feeds = { a: { data: this.a, dims: [M, K] }, b: { data: this.b, dims: [K, N] } };
    for (let i = 0; i < warm; i++) await this.session.run(feeds);
    const ms: number[] = [];
    for (let i = 0; i < reps; i++) {
      const t0 = performance.now();
      await this.session.run(feeds);
      ms.push(performance.now() - t0);
    }
    return this.flops / (median(ms) * 1e6);
  }
}
