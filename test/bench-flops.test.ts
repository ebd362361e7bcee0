import { test } from 'node:test';
import assert from 'node:assert/strict';
import { trainStepFlops, linearParamCount } from '../bench/flops.ts';
import { parseModelConfig } from '../src/model/config.ts';

const tiny = (extra: Record<string, unknown> = {}) =>
  parseModelConfig(
    {
      architectures: ['LlamaForCausalLM'],
      vocab_size: 32,
      hidden_size: 16,
      intermediate_size: 24,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      ...extra,
    },
    'tiny',
  );

/*
 * Hand computation: V=32, C=16, I=24, L=2, H=4, K=2, D=C/H=4, batch B=2, T=8.
 *   per layer: q 16*16=256, k 16*8=128, v 16*8=128, o 16*16=256, gate+up+down 3*16*24=1152 -> 1920
 *   linear params: 2*1920 + lm_head 32*16=512 -> 4352
 *   projections: 2*B*T*4352 = 2*2*8*4352 = 139264
 *   attention: L * 2*2*B*H*T*T*D = 2 * (4*2*4*64*4) = 2 * 8192 = 16384
 *   forward = 139264 + 16384 = 155648; backward = 2*155648 = 311296; total = 3*155648 = 466944
 */
test('train-step FLOPs of a tiny GQA config match the hand computation', () => {
  const cfg = tiny();
  assert.equal(linearParamCount(cfg), 4352);
  assert.deepEqual(trainStepFlops(cfg, 2, 8), { linearParams: 4352, forward: 155648, backward: 311296, total: 466944 });
});

test('a tied head still does the head matmul; biases are not matmul FLOPs', () => {
  assert.equal(trainStepFlops(tiny({ tie_word_embeddings: true }), 2, 8).total, 466944);
  assert.equal(trainStepFlops(tiny({ attention_bias: true }), 2, 8).total, 466944);
});

test('attention FLOPs grow with T^2, projections with T', () => {
  // T=16: projections 2*2*16*4352 = 278528; attention 2*(4*2*4*256*4) = 65536; forward 344064
  assert.equal(trainStepFlops(tiny(), 2, 16).forward, 344064);
});
