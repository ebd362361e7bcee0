/**
 * Seeded initial weights of a fresh model (pretraining from scratch): N(0, 0.02), the residual output projections
 * (o_proj, down_proj) scaled by 1/sqrt(2 layers), norms 1, biases 0.
 */
import { expectedParamShapes, type LlamaConfig } from '../model/config.ts';
import { Rng } from '../util/rng.ts';

export function initWeights(cfg: LlamaConfig, seed: number): Map<string, Float32Array> {
  const rng = new Rng(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
  const weights = new Map<string, Float32Array>();
  for (const [name, shape] of expectedParamShapes(cfg)) {
    const a = new Float32Array(shape.reduce((x, y) => x * y, 1));
    if (name.endsWith('norm.weight')) a.fill(1);
    else if (!name.endsWith('.bias')) {
      const std = /o_proj|down_proj/.test(name) ? 0.02 / Math.sqrt(2 * cfg.numLayers) : 0.02;
      for (let i = 0; i < a.length; i++) a[i] = std * gauss();
    }
    weights.set(name, a);
  }
  return weights;
}
