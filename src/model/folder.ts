/**
 * Loading a model folder's weights as f32 and checking them against the declared parameter list.
 */
import { ModelFormatError } from '../errors.ts';
import { expectedParamShapes, type LlamaConfig } from './config.ts';
import { readShardedSafetensors } from './safetensors.ts';

/** Weights keyed by HF parameter name, in {@link expectedParamShapes} order, plus the file tensors that were skipped. */
export interface LoadedWeights {
  weights: Map<string, Float32Array>;
  /** Tensors present in the files but not parameters of the model (e.g. rotary_emb.inv_freq, a tied lm_head). */
  ignored: string[];
}

function sameShape(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * Reads `<dir>/model.safetensors` (or its sharded form), converts every parameter to f32 and checks it against
 * {@link expectedParamShapes}: a missing tensor, a shape mismatch or a non-float parameter throws ModelFormatError.
 */
export function loadModelWeights(dir: string, cfg: LlamaConfig): LoadedWeights {
  const ckpt = readShardedSafetensors(dir);
  const expected = expectedParamShapes(cfg);
  const weights = new Map<string, Float32Array>();
  for (const [name, shape] of expected) {
    const t = ckpt.tensors.get(name);
    if (!t) throw new ModelFormatError(`${ckpt.listFile}: tensor "${name}": missing (expected shape [${shape.join(', ')}])`);
    const file = ckpt.sourceOf.get(name) ?? ckpt.listFile;
    if (!sameShape(t.shape, shape)) {
      throw new ModelFormatError(
        `${file}: tensor "${name}": shape [${t.shape.join(', ')}] does not match expected [${shape.join(', ')}]`,
      );
    }
    if (!(t.data instanceof Float32Array)) {
      throw new ModelFormatError(`${file}: tensor "${name}": dtype ${t.dtype} is not a float type`);
    }
    weights.set(name, t.data);
  }
  const ignored = [...ckpt.tensors.keys()].filter((n) => !expected.has(n)).sort();
  return { weights, ignored };
}
