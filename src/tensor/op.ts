/**
 * What an op is: its shape rule, its ONNX emission and its gradient rule, declared together in one object.
 *
 * Gradient rules are written with the same op functions as models, so a backward graph is just more recorded ops.
 */
import type { DType, Shape, Tensor } from './graph.ts';

export interface OutputSpec {
  shape: Shape;
  dtype: DType;
  /** Reuse an input's ONNX name instead of emitting a node (used by stop-gradient). */
  alias?: string;
}

/** An ONNX attribute value; the serializer picks the proto field from the JS type. */
export type AttrValue = number | string | number[] | { float: number } | { floats: number[] } | { zero: DType };

/** What an op's `emit` may do: add ONNX nodes and int64/float constants. */
export interface EmitContext {
  node(opType: string, inputs: string[], outputs: string[], attrs?: Record<string, AttrValue>, domain?: string): void;
  /** Name of an int64 initializer holding `values` (rank 1), deduplicated. */
  int64s(values: readonly number[]): string;
  /** Name of a float64 scalar initializer (for float64 graphs). */
  float64(value: number): string;
  /** A fresh name for an intermediate value of a multi-node emission. */
  temp(prefix: string): string;
}

export interface OpDef<A> {
  readonly name: string;
  /** Output shapes and dtypes; throws ShapeError naming the op and the shapes on mismatch. */
  infer(inputs: readonly Tensor[], attrs: A): OutputSpec[];
  /** Emits ONNX nodes computing `outputs` from `inputs` (ONNX value names); `tensors` are the symbolic inputs. */
  emit(ctx: EmitContext, inputs: string[], outputs: string[], attrs: A, tensors: readonly Tensor[]): void;
  /**
   * Gradients of the inputs given the gradients of the outputs (null where an output got none).
   * Returns null for inputs that get no gradient. Undefined: the op is not differentiable.
   */
  grad?(inputs: readonly Tensor[], outputs: readonly Tensor[], gradOutputs: (Tensor | null)[], attrs: A): (Tensor | null)[];
}

/** Defines an op; a tiny helper so each op reads as one declaration. */
export function defineOp<A>(def: OpDef<A>): OpDef<A> {
  return def;
}
