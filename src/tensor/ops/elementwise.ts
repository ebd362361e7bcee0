/**
 * Elementwise ops (numpy broadcasting). Each op: shape rule + ONNX emission + gradient rule, side by side.
 */
import { ShapeError } from '../../errors.ts';
import { broadcastShapes, fmt, isFloat, type Shape, Tensor } from '../graph.ts';
import { defineOp, type OpDef, type OutputSpec } from '../op.ts';
import { sumTo } from './reduce.ts';

type Operand = Tensor | number;

/** All inputs share one float dtype; returns it. */
export function floatInputs(opName: string, inputs: readonly Tensor[]) {
  const dtype = inputs[0].dtype;
  for (const t of inputs) {
    if (!isFloat(t.dtype) || t.dtype !== dtype) {
      throw new ShapeError(`${opName}: input ${t.name} has dtype ${t.dtype}; inputs must share one float dtype`);
    }
  }
  return dtype;
}

function binarySpec(opName: string, inputs: readonly Tensor[]): OutputSpec[] {
  const dtype = floatInputs(opName, inputs);
  return [{ shape: broadcastShapes(opName, inputs[0].shape, inputs[1].shape), dtype }];
}

function unarySpec(opName: string, inputs: readonly Tensor[]): OutputSpec[] {
  return [{ shape: inputs[0].shape, dtype: floatInputs(opName, inputs) }];
}

function binaryOp(
  name: string,
  onnxType: string,
  grad: (a: Tensor, b: Tensor, y: Tensor, dy: Tensor) => [Tensor, Tensor],
): OpDef<null> {
  return defineOp<null>({
    name,
    infer: (inputs) => binarySpec(name, inputs),
    emit: (ctx, ins, outs) => ctx.node(onnxType, ins, outs),
    grad: ([a, b], [y], [dy]) => {
      if (!dy) return [null, null];
      const [da, db] = grad(a, b, y, dy);
      return [a.requiresGrad ? sumTo(da, a.shape) : null, b.requiresGrad ? sumTo(db, b.shape) : null];
    },
  });
}

function unaryOp(name: string, onnxType: string, grad: (x: Tensor, y: Tensor, dy: Tensor) => Tensor): OpDef<null> {
  return defineOp<null>({
    name,
    infer: (inputs) => unarySpec(name, inputs),
    emit: (ctx, ins, outs) => ctx.node(onnxType, ins, outs),
    grad: ([x], [y], [dy]) => [dy ? grad(x, y, dy) : null],
  });
}

export const AddOp = binaryOp('add', 'Add', (_a, _b, _y, dy) => [dy, dy]);
export const SubOp = binaryOp('sub', 'Sub', (_a, _b, _y, dy) => [dy, neg(dy)]);
export const MulOp = binaryOp('mul', 'Mul', (a, b, _y, dy) => [mul(dy, b), mul(dy, a)]);
// d(a/b)/da = 1/b; d(a/b)/db = -y/b
export const DivOp = binaryOp('div', 'Div', (_a, b, y, dy) => [div(dy, b), neg(div(mul(dy, y), b))]);

export const NegOp = unaryOp('neg', 'Neg', (_x, _y, dy) => neg(dy));
export const ExpOp = unaryOp('exp', 'Exp', (_x, y, dy) => mul(dy, y));
export const LogOp = unaryOp('log', 'Log', (x, _y, dy) => div(dy, x));
// d sqrt(x) = 1 / (2 sqrt(x))
export const SqrtOp = unaryOp('sqrt', 'Sqrt', (_x, y, dy) => div(mul(dy, 0.5), y));
// d (1/x) = -1/x^2 = -y^2
export const ReciprocalOp = unaryOp('reciprocal', 'Reciprocal', (_x, y, dy) => neg(mul(dy, mul(y, y))));
// d sigmoid = s (1 - s)
export const SigmoidOp = unaryOp('sigmoid', 'Sigmoid', (_x, y, dy) => mul(dy, mul(y, sub(1, y))));
export const TanhOp = unaryOp('tanh', 'Tanh', (_x, y, dy) => mul(dy, sub(1, mul(y, y))));

/** SiLU(x) = x * sigmoid(x), emitted as two nodes; d/dx = s * (1 + x (1 - s)). */
export const SiluOp = defineOp<null>({
  name: 'silu',
  infer: (inputs) => unarySpec('silu', inputs),
  emit: (ctx, [x], [y]) => {
    const s = ctx.temp('silu_sigmoid');
    ctx.node('Sigmoid', [x], [s]);
    ctx.node('Mul', [x, s], [y]);
  },
  grad: ([x], _outs, [dy]) => {
    if (!dy) return [null];
    const s = sigmoid(stopGradient(x));
    return [mul(dy, mul(s, add(1, mul(x, sub(1, s)))))];
  },
});

/** Stop-gradient: the same value, no gradient flows back. Emits nothing (it aliases its input). */
export const StopGradientOp = defineOp<null>({
  name: 'stop_gradient',
  infer: ([x]) => [{ shape: x.shape, dtype: x.dtype, alias: x.name }],
  emit: () => {},
});

function lift(like: Tensor, v: Operand): Tensor {
  return typeof v === 'number' ? like.graph.scalar(v) : v;
}

function binary(op: OpDef<null>, a: Operand, b: Operand): Tensor {
  const anchor = typeof a === 'number' ? (b as Tensor) : a;
  if (typeof a === 'number' && typeof b === 'number') throw new ShapeError(`${op.name}: needs at least one tensor`);
  return anchor.graph.apply(op, [lift(anchor, a), lift(anchor, b)], null)[0];
}

export const add = (a: Operand, b: Operand): Tensor => binary(AddOp, a, b);
export const sub = (a: Operand, b: Operand): Tensor => binary(SubOp, a, b);
export const mul = (a: Operand, b: Operand): Tensor => binary(MulOp, a, b);
export const div = (a: Operand, b: Operand): Tensor => binary(DivOp, a, b);
export const neg = (x: Tensor): Tensor => x.graph.apply(NegOp, [x], null)[0];
export const exp = (x: Tensor): Tensor => x.graph.apply(ExpOp, [x], null)[0];
export const log = (x: Tensor): Tensor => x.graph.apply(LogOp, [x], null)[0];
export const sqrt = (x: Tensor): Tensor => x.graph.apply(SqrtOp, [x], null)[0];
export const reciprocal = (x: Tensor): Tensor => x.graph.apply(ReciprocalOp, [x], null)[0];
export const sigmoid = (x: Tensor): Tensor => x.graph.apply(SigmoidOp, [x], null)[0];
export const tanh = (x: Tensor): Tensor => x.graph.apply(TanhOp, [x], null)[0];
export const silu = (x: Tensor): Tensor => x.graph.apply(SiluOp, [x], null)[0];
export const stopGradient = (x: Tensor): Tensor => x.graph.apply(StopGradientOp, [x], null)[0];
export const square = (x: Tensor): Tensor => mul(x, x);

/** Checks two tensors have identical shapes (for ops that do not broadcast). */
export function expectSameShape(opName: string, a: Shape, b: Shape): void {
  if (a.length !== b.length || a.some((d, i) => d !== b[i])) {
    throw new ShapeError(`${opName}: shapes ${fmt(a)} and ${fmt(b)} must be equal`);
  }
}
