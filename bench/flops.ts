/**
 * Matmul FLOPs of one train step (forward + backward) of a Llama-family decoder, as a pure function of the
 * config and the batch shape. Only matrix multiplies are counted (a multiply-add = 2 FLOPs); norms, softmax,
 * RoPE, the embedding lookup and the optimizer are left out.
 *
 *   forward  = 2*B*T*(weights of every linear layer, lm_head included)      projections and head
 *            + 2 * 2*B*H*T*T*D                                              QK^T and PV, full T*T per head
 *   backward = 2 * forward  (each matmul needs one for the input gradient and one for the weight gradient)
 *   total    = 3 * forward
 *
 * Biases are not matmul work and are not counted. The lm_head is counted over all T positions and the full T*T
 * attention is counted (our graph computes the masked half too), so this is the standard "6 * params * tokens"
 * estimate plus attention, not an exact op count of our graph.
 */
import type { LlamaConfig } from '../src/model/config.ts';

export interface TrainFlops {
  /** Weights in all linear layers (q, k, v, o, gate, up, down per layer, plus the output head). */
  linearParams: number;
  forward: number;
  backward: number;
  total: number;
}

/** Elements of the weight matrices of every linear layer, head included (tied heads still do the matmul). */
export function linearParamCount(cfg: LlamaConfig): number {
  const { hiddenSize: C, intermediateSize: I, numHeads: H, numKvHeads: K, headDim: D } = cfg;
  const attention = C * H * D /* q */ + 2 * C * K * D /* k, v */ + H * D * C; /* o */
  const mlp = 3 * C * I; // gate, up, down
  const head = cfg.architecture === 'LlamaForSequenceClassification' ? cfg.numLabels * C : cfg.vocabSize * C;
  return cfg.numLayers * (attention + mlp) + head;
}

/** FLOPs of one forward + backward over a [B, T] batch. */
export function trainStepFlops(cfg: LlamaConfig, B: number, T: number): TrainFlops {
  const linearParams = linearParamCount(cfg);
  const projections = 2 * B * T * linearParams;
  const attention = cfg.numLayers * 2 * (2 * B * cfg.numHeads * T * T * cfg.headDim);
  const forward = projections + attention;
  return { linearParams, forward, backward: 2 * forward, total: 3 * forward };
}
