/**
 * Serialises a recorded graph to an ONNX ModelProto (opset 18 + com.microsoft), keeping only the nodes the
 * requested outputs need. Outputs are named by renaming the producing node's output (no Identity copies).
 */
import onnxProto from 'onnx-proto';
import { ShapeError } from '../errors.ts';
import type { DType, Graph, HostValues, Tensor } from './graph.ts';
import type { AttrValue, EmitContext } from './op.ts';
import { ONNX_DTYPE } from './ops/shape.ts';

const { onnx } = onnxProto;
export const OPSET = 18;

type NodeProto = InstanceType<typeof onnx.NodeProto>;
type TensorProto = onnxProto.onnx.ITensorProto;

/** Returns the serialised model. `outputs` maps output names to tensors of `graph`. */
export function toOnnx(graph: Graph, outputs: Record<string, Tensor>): Uint8Array {
  const rename = outputRenames(graph, outputs);
  const nameOf = (t: Tensor | string): string => {
    const n = typeof t === 'string' ? t : t.name;
    return rename.get(n) ?? n;
  };
  const emitter = new Emitter();
  for (const node of liveNodes(graph, Object.values(outputs))) {
    const ins = node.inputs.map(nameOf);
    const outs = node.outputs.map(nameOf);
    node.op.emit(emitter, ins, outs, node.attrs, node.inputs);
  }
  const identities = Object.entries(outputs)
    .filter(([name, t]) => nameOf(t) !== name)
    .map(([name, t]) => onnx.NodeProto.create({ opType: 'Identity', input: [nameOf(t)], output: [name], name: `out_${name}` }));
  const usedConstants = graph.constants.filter((c) => emitter.used.has(c.tensor.name) || outputSources(outputs).has(c.tensor.name));
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'selfplay',
    opsetImport: [
      { domain: '', version: OPSET },
      { domain: 'com.microsoft', version: 1 },
    ],
    graph: {
      name: graph.name,
      node: [...emitter.nodes, ...identities],
      input: graph.inputs.filter((t) => emitter.used.has(t.name) || outputSources(outputs).has(t.name)).map(valueInfo),
      output: Object.entries(outputs).map(([name, t]) => valueInfo({ ...t, name } as Tensor)),
      initializer: [...usedConstants.map((c) => tensorProto(c.tensor.name, c.tensor.shape, c.values)), ...emitter.initializers],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

function outputSources(outputs: Record<string, Tensor>): Set<string> {
  return new Set(Object.values(outputs).map((t) => t.name));
}

/** Renames each output's producing value to the output name, where that is safe. */
function outputRenames(graph: Graph, outputs: Record<string, Tensor>): Map<string, string> {
  const fixed = new Set([...graph.inputs.map((t) => t.name), ...graph.constants.map((c) => c.tensor.name)]);
  const rename = new Map<string, string>();
  for (const [name, t] of Object.entries(outputs)) {
    if (fixed.has(t.name) || rename.has(t.name) || isAliasOfFixed(t, fixed)) continue;
    rename.set(t.name, name);
  }
  return rename;
}

function isAliasOfFixed(t: Tensor, fixed: Set<string>): boolean {
  return fixed.has(t.name);
}

/** Nodes needed to compute `targets`, in recording (topological) order. */
function liveNodes(graph: Graph, targets: Tensor[]) {
  const live = new Set<number>();
  const stack = [...targets];
  while (stack.length) {
    const t = stack.pop()!;
    const node = t.producer;
    if (!node || live.has(node.index)) continue;
    live.add(node.index);
    stack.push(...node.inputs);
  }
  return graph.nodes.filter((n) => live.has(n.index));
}

class Emitter implements EmitContext {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  readonly used = new Set<string>();
  private readonly intConsts = new Map<string, string>();
  private counter = 0;

  node(opType: string, inputs: string[], outputs: string[], attrs: Record<string, AttrValue> = {}, domain = ''): void {
    inputs.forEach((i) => this.used.add(i));
    const attribute = Object.entries(attrs).map(([name, v]) => attributeProto(name, v));
    const name = `${opType}_${this.counter++}`;
    this.nodes.push(onnx.NodeProto.create({ opType, input: inputs, output: outputs, attribute, domain, name }));
  }

  int64s(values: readonly number[]): string {
    const key = values.join(',');
    let name = this.intConsts.get(key);
    if (!name) {
      name = `i64_${this.intConsts.size}`;
      this.intConsts.set(key, name);
      this.initializers.push(tensorProto(name, [values.length], BigInt64Array.from(values.map(BigInt))));
    }
    return name;
  }

  float64(value: number): string {
    const name = this.temp('f64');
    this.initializers.push(tensorProto(name, [], Float64Array.of(value)));
    return name;
  }

  temp(prefix: string): string {
    return `${prefix}__t${this.counter++}`;
  }
}

function attributeProto(name: string, v: AttrValue) {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new ShapeError(`attribute ${name}: use { float } for non-integer ${v}`);
    return { name, type: T.INT, i: v };
  }
  if (typeof v === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: T.INTS, ints: v };
  if ('float' in v) return { name, type: T.FLOAT, f: v.float };
  if ('zero' in v) return { name, type: T.TENSOR, t: tensorProto(name, [1], zerosOf(v.zero)) };
  return { name, type: T.FLOATS, floats: v.floats };
}

function zerosOf(dtype: DType): HostValues {
  if (dtype === 'float64') return new Float64Array(1);
  if (dtype === 'int64') return new BigInt64Array(1);
  return new Float32Array(1);
}

function tensorProto(name: string, dims: readonly number[], values: HostValues): TensorProto {
  const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  const dataType =
    values instanceof Float32Array ? ONNX_DTYPE.float32 : values instanceof Float64Array ? ONNX_DTYPE.float64 : ONNX_DTYPE.int64;
  return { name, dims: [...dims], dataType, rawData: bytes.slice() };
}

function valueInfo(t: Tensor) {
  return {
    name: t.name,
    type: { tensorType: { elemType: ONNX_DTYPE[t.dtype], shape: { dim: t.shape.map((d) => ({ dimValue: d })) } } },
  };
}
