/**
 * Symbolic tensors and the graph that records ops on them.
 *
 * Shapes are static: a graph is built for one shape bucket (B, T known), so every op checks shapes when it is
 * recorded and names itself and the shapes when they do not fit. The runtime compiles one ONNX session per graph.
 */
import { ShapeError } from '../errors.ts';
import type { OpDef } from './op.ts';

export type DType = 'float32' | 'float64' | 'int64' | 'bool';
export type FloatType = 'float32' | 'float64';

export const isFloat = (d: DType): d is FloatType => d === 'float32' || d === 'float64';
export type Shape = readonly number[];

/** A value in a graph: a graph input, a constant, or the output of a recorded op. */
export class Tensor {
  constructor(
    readonly graph: Graph,
    readonly name: string,
    readonly shape: Shape,
    readonly dtype: DType,
    /** The op application that produced this tensor; undefined for inputs and constants. */
    readonly producer: OpNode | undefined,
    /** True when some trainable input reaches this tensor through differentiable ops. */
    readonly requiresGrad: boolean,
  ) {}

  get rank(): number {
    return this.shape.length;
  }

  get size(): number {
    return numel(this.shape);
  }

  toString(): string {
    return `${this.name}[${this.shape.join(',')}]:${this.dtype}`;
  }
}

/** One recorded application of an op. */
export interface OpNode {
  readonly op: OpDef<any>;
  readonly inputs: readonly Tensor[];
  readonly outputs: readonly Tensor[];
  readonly attrs: any;
  /** Position in the graph's node list (topological order). */
  readonly index: number;
}

/** Host data for a constant baked into the graph. */
export interface ConstantData {
  readonly tensor: Tensor;
  readonly values: HostValues;
}

export class Graph {
  readonly inputs: Tensor[] = [];
  readonly nodes: OpNode[] = [];
  readonly constants: ConstantData[] = [];
  private nextId = 0;
  private readonly scalarCache = new Map<string, Tensor>();

  /**
   * `float` is the dtype of float inputs and scalars by default: float32 for models, float64 for the
   * finite-difference tests (same ops, same ONNX nodes, rounding out of the way).
   */
  constructor(
    readonly name = 'graph',
    readonly float: FloatType = 'float32',
  ) {}

  /** A fresh unique tensor name with a readable prefix. */
  freshName(prefix: string): string {
    return `${prefix}_${this.nextId++}`;
  }

  /** Declares a graph input. `trainable` inputs are what gradients are taken with respect to. */
  input(name: string, shape: Shape, dtype: DType = this.float, trainable = false): Tensor {
    checkShape(shape, `input ${name}`);
    if (this.inputs.some((t) => t.name === name)) throw new ShapeError(`graph ${this.name}: duplicate input ${name}`);
    const t = new Tensor(this, name, [...shape], dtype, undefined, trainable);
    this.inputs.push(t);
    return t;
  }

  /** A constant baked into the graph as an initializer. */
  constant(values: HostValues | number[], shape: Shape, dtype: DType = this.float): Tensor {
    checkShape(shape, 'constant');
    const data = toTyped(values, dtype);
    if (data.length !== numel(shape)) {
      throw new ShapeError(`constant: ${data.length} values for shape [${shape.join(',')}]`);
    }
    const t = new Tensor(this, this.freshName('const'), [...shape], dtype, undefined, false);
    this.constants.push({ tensor: t, values: data });
    return t;
  }

  /** A rank-0 float constant, shared between uses of the same value. */
  scalar(value: number, dtype: DType = this.float): Tensor {
    const key = `${dtype}:${Object.is(value, -0) ? '-0' : value}`;
    let t = this.scalarCache.get(key);
    if (!t) {
      t = this.constant([value], [], dtype);
      this.scalarCache.set(key, t);
    }
    return t;
  }

  /** Records an op: checks shapes through the op's rule and creates its outputs. */
  apply<A>(op: OpDef<A>, inputs: readonly Tensor[], attrs: A): Tensor[] {
    for (const t of inputs) {
      if (t.graph !== this) throw new ShapeError(`${op.name}: input ${t.name} belongs to another graph`);
    }
    const specs = op.infer(inputs, attrs);
    const differentiable = op.grad !== undefined && inputs.some((t) => t.requiresGrad);
    const index = this.nodes.length;
    const outputs: Tensor[] = [];
    const node: OpNode = { op, inputs: [...inputs], outputs, attrs, index };
    specs.forEach((spec, i) => {
      const name = spec.alias ?? this.freshName(`${op.name}${specs.length > 1 ? `${i}` : ''}`);
      const requiresGrad = differentiable && isFloat(spec.dtype);
      outputs.push(new Tensor(this, name, spec.shape, spec.dtype, node, requiresGrad));
    });
    this.nodes.push(node);
    return outputs;
  }
}

export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function checkShape(shape: Shape, what: string): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new ShapeError(`${what}: bad dimension ${d} in [${shape.join(',')}]`);
  }
}

export type HostValues = Float32Array | Float64Array | BigInt64Array;

function toTyped(values: HostValues | number[], dtype: DType): HostValues {
  if (dtype === 'float32') return values instanceof Float32Array ? values : Float32Array.from(values as number[]);
  if (dtype === 'float64') return values instanceof Float64Array ? values : Float64Array.from(values as number[]);
  if (values instanceof BigInt64Array) return values;
  return BigInt64Array.from((values as number[]).map((v) => BigInt(v)));
}

/** Numpy broadcasting of two shapes; throws a ShapeError naming the op when they do not broadcast. */
export function broadcastShapes(opName: string, a: Shape, b: Shape): number[] {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new ShapeError(`${opName}: shapes [${a.join(',')}] and [${b.join(',')}] do not broadcast`);
    }
    out.push(da === 1 ? db : da);
  }
  return out;
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function fmt(shape: Shape): string {
  return `[${shape.join(',')}]`;
}
