/**
 * A tiny world model folder for loop tests: the real world tokenizer (prompt words are single tokens, so Box 1 and
 * Box 3 stay short), a 1-layer Llama with seeded weights, saved as an ordinary HF folder.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseModelConfig } from '../../src/model/config.ts';
import { initWeights } from '../../src/backend/random-init.ts';
import { saveModelFolder } from '../../src/model/save.ts';
import { makeWorldTokenizer, worldModelConfig } from '../../src/train/pretrain.ts';

export function tinyWorldModel(seed = 1): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tiny-world-'));
  const tokDir = path.join(root, 'tokenizer');
  const tok = makeWorldTokenizer(tokDir);
  const config = worldModelConfig({ hiddenSize: 32, intermediateSize: 64, numLayers: 1, numHeads: 2, numKvHeads: 1 }, tok);
  const weights = initWeights(parseModelConfig(config, 'config.json'), seed);
  // larger weights than the pretraining init, so samples (and log-probs) vary visibly
  for (const [name, w] of weights) if (!name.endsWith('norm.weight')) w.forEach((v, i) => (w[i] = v * 10));
  const dir = path.join(root, 'model');
  saveModelFolder(dir, { config, weights, tokenizerFrom: tokDir });
  return dir;
}
