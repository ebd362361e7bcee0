/**
 * The reward graph of LlamaForSequenceClassification: the decoder's final-normed hidden state at each row's last
 * real token, times the `score` head (no bias): scores [B, L] for L = num_labels.
 *
 * Rows are right-padded to T; `last_index` [B] is each row's last real position (its length - 1), which the host
 * derives from the attention mask. HF finds the same position from `pad_token_id` instead; the two agree unless
 * the pad id also occurs inside a row, where the mask is the one that is right.
 *
 * Dimension letters: B batch, T sequence, C hidden width, L labels.
 */
import { ShapeError } from '../errors.ts';
import { expand, gatherLast, Graph, linear, reshape, type Tensor, toOnnx, transpose } from '../tensor/index.ts';
import type { LlamaConfig } from './config.ts';
import { modelInputs } from './graphs.ts';
import { declareParams, llamaHidden } from './llama.ts';

/** int64 [B]: position of each row's last real token. */
export const LAST_INDEX = 'last_index';

/** Graph: parameters + `input_ids` [B, T] + `attention_mask` [B, T] + `last_index` [B] -> `scores` [B, L]. */
export function buildRewardGraph(cfg: LlamaConfig, B: number, T: number): Uint8Array {
  if (cfg.architecture !== 'LlamaForSequenceClassification') {
    throw new ShapeError(`reward graph: architecture ${cfg.architecture} has no score head`);
  }
  const g = new Graph(`reward_B${B}_T${T}`);
  const { params } = declareParams(g, cfg);
  const hidden_B_T_C = llamaHidden(g, cfg, params, modelInputs(g, B, T));
  const last_B_C = rowsAt(hidden_B_T_C, g.input(LAST_INDEX, [B], 'int64'));
  const scores = linear(last_B_C, params.get('score.weight')!); // [B, L]
  return toOnnx(g, { scores });
}

/** x [B, T, C] at position index[b] of each row -> [B, C]. */
function rowsAt(x_B_T_C: Tensor, index_B: Tensor): Tensor {
  const [B, , C] = x_B_T_C.shape;
  const index_B_C = expand(reshape(index_B, [B, 1]), [B, C]);
  return gatherLast(transpose(x_B_T_C, [0, 2, 1]), index_B_C); // gather along T of [B, C, T]
}
