/** The tensor layer: symbolic tensors, ops with their gradient rules, autodiff, ONNX serialisation. */
export { Graph, Tensor, numel, type DType, type Shape } from './graph.ts';
export { grad } from './autodiff.ts';
export { toOnnx } from './onnx.ts';
export * from './ops/elementwise.ts';
export * from './ops/reduce.ts';
export * from './ops/shape.ts';
export * from './ops/linalg.ts';
export * from './ops/nn.ts';
export * from './ops/transformer.ts';
