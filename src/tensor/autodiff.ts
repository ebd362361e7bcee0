/**
 * Reverse-mode autodiff over a recorded graph: walks the nodes backwards from a scalar loss, asks each op's
 * gradient rule for its inputs' gradients (recorded as more ops) and sums gradients that meet.
 */
import { ShapeError } from '../errors.ts';
import { fmt, type Tensor } from './graph.ts';
import { add } from './ops/elementwise.ts';
import { expand } from './ops/reduce.ts';

/** Gradients of the scalar `loss` with respect to `wrt` (zeros where `loss` does not depend on one). */
export function grad(loss: Tensor, wrt: readonly Tensor[]): Tensor[] {
  if (loss.size !== 1) throw new ShapeError(`grad: loss must have one element, got ${loss.name}${fmt(loss.shape)}`);
  const g = loss.graph;
  const grads = new Map<Tensor, Tensor>();
  grads.set(loss, expand(g.scalar(1), loss.shape));
  const needed = reachesWrt(loss, wrt);
  for (let i = loss.producer ? loss.producer.index : -1; i >= 0; i--) {
    const node = g.nodes[i];
    if (!node.op.grad || !needed.has(node.index)) continue;
    const outGrads = node.outputs.map((o) => grads.get(o) ?? null);
    if (outGrads.every((d) => d === null)) continue;
    const inGrads = node.op.grad(node.inputs, node.outputs, outGrads, node.attrs);
    node.inputs.forEach((input, k) => {
      const d = inGrads[k];
      if (!d || !input.requiresGrad) return;
      checkGradShape(node.op.name, input, d);
      const prev = grads.get(input);
      grads.set(input, prev ? add(prev, d) : d);
    });
  }
  return wrt.map((w) => grads.get(w) ?? expand(g.scalar(0), w.shape));
}

/** Indices of nodes that lie on a path from some `wrt` tensor to the loss. */
function reachesWrt(loss: Tensor, wrt: readonly Tensor[]): Set<number> {
  const g = loss.graph;
  const fromWrt = new Set<Tensor>(wrt);
  const forward = new Set<number>();
  for (const node of g.nodes) {
    if (node.inputs.some((t) => fromWrt.has(t))) {
      forward.add(node.index);
      node.outputs.forEach((o) => fromWrt.add(o));
    }
  }
  const onPath = new Set<number>();
  const toLoss = new Set<Tensor>([loss]);
  for (let i = g.nodes.length - 1; i >= 0; i--) {
    const node = g.nodes[i];
    if (forward.has(i) && node.outputs.some((o) => toLoss.has(o))) {
      onPath.add(i);
      node.inputs.forEach((t) => toLoss.add(t));
    }
  }
  return onPath;
}

function checkGradShape(opName: string, input: Tensor, d: Tensor): void {
  const same = d.rank === input.rank && d.shape.every((x, i) => x === input.shape[i]);
  if (!same) {
    throw new ShapeError(`grad rule of ${opName}: gradient ${fmt(d.shape)} for input ${input.name}${fmt(input.shape)}`);
  }
}
