/**
 * Writes models/default/README.md (the model card) from a finished pretraining run folder and the output of
 * `selfplay eval --world-quality --out DIR`:
 *
 *   node --import tsx scripts/model-card.ts RUN_DIR QUALITY_DIR MODEL_DIR "<pretrain command>" "<notes>" ["<earlier stages>" ["<stage title>"]]
 *
 * RUN_DIR's options (saved in its checkpoints) say whether it started from scratch or from another model (--init);
 * for a continued run, "<earlier stages>" is markdown describing how the model it started from was made, and
 * "<stage title>" names the run's own stage (default "Stage 2").
 */
import fs from 'node:fs';
import path from 'node:path';
import { loadModelFolder } from '../src/model/modelfolder.ts';
import { formatDuration } from '../src/util/progress.ts';
import { FAMILY_NAMES } from '../src/world/types.ts';
import { pretrainRange } from '../src/world/world.ts';

const [runDir, qualityDir, modelDir, command, notes = '', earlier = '', stageTitle = 'Stage 2'] = process.argv.slice(2);
const coverage = FAMILY_NAMES.map((f) => `${pretrainRange(f).join('-')} of ${f}`).join(', ');
const log = fs.readFileSync(path.join(runDir, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const last = log[log.length - 1];
const byRole = (role: string) => log.filter((l) => l.role === role).length;
const tokens = log.reduce((a, l) => a + l.tokens, 0);
const folder = loadModelFolder(modelDir);
const params = [...folder.weights.values()].reduce((a, w) => a + w.length, 0);
const cfg = folder.cfg;
const quality = fs.readFileSync(path.join(qualityDir, 'world-quality.md'), 'utf8');
const size = fs.statSync(path.join(modelDir, 'model.safetensors')).size;
const checkpoints = path.join(runDir, 'checkpoints');
const lastCheckpoint = fs.readdirSync(checkpoints).filter((n) => /^iter-\d+$/.test(n)).sort().pop()!;
const options = JSON.parse(fs.readFileSync(path.join(checkpoints, lastCheckpoint, 'state.json'), 'utf8')).extra.options;
const continued = typeof options.init === 'string';
const schedule = `peak lr ${options.lr}, warmup ${options.warmupSteps}, cosine to ${Math.round(options.minLrFraction * 100)}%`;
const judgeExtras = [
  options.noiseKindWeights ? `invalid kinds weighted ${Object.entries(options.noiseKindWeights).map(([k, w]) => `${k} ${w}`).join(', ')} (others 1)` : '',
  options.judgeVerdictWeight && options.judgeVerdictWeight !== 1 ? `the judge's verdict token on the instruction weighted ${options.judgeVerdictWeight}x in the loss` : '',
].filter((x) => x !== '');
const roles = continued
  ? `role mix solver ${options.mix.solver} / challenger ${options.mix.challenger} / judge ${options.mix.judge}, no solver-only phase${judgeExtras.length ? `; ${judgeExtras.join('; ')}` : ''}`
  : 'the first steps train the solver alone on short rows';

const card = `# selfplay default model (embedded world)

A ${(params / 1e6).toFixed(2)}M-parameter Llama-architecture instruction model, trained ${continued ? 'in two stages' : 'from scratch'} by this project on
its embedded synthetic world (six task families: ${FAMILY_NAMES.join(', ')}) so that
\`npx selfplay train\` runs the whole LSP method with no downloads. It plays three roles with the paper's own prompt
texts: challenger (Box 1 prompt -> a filled task template), solver (instruction -> answer) and judge (Box 3 prompt ->
justification, \`<Calculation>\`, \`<Score>\`). It is not a general chat model: outside its world it produces noise.

## How it was made
${earlier ? `\n${earlier}\n` : ''}
${continued ? `### ${stageTitle}: continued on the current world (from \`${options.init}\`)\n\n` : ''}- Command: \`${command}\` (then \`selfplay eval --model models/default --world-quality\` for the numbers below)
- Seed ${options.seed}; ${last.step} optimizer steps (${byRole('solver')} solver, ${byRole('challenger')} challenger, ${byRole('judge')} judge batches;
  ${roles}); ${(tokens / 1e6).toFixed(1)}M tokens through the model (shared
  Box 1 / Box 3 prefixes counted once per batch).
- Wall time in training steps: ${formatDuration(last.seconds)} on 2 CPU cores (ONNX Runtime, shared with other work).
- Architecture: ${cfg.numLayers} layers, hidden ${cfg.hiddenSize}, MLP ${cfg.intermediateSize}, ${cfg.numHeads} heads / ${cfg.numKvHeads} key-value heads
  (head dim ${cfg.headDim}), RoPE theta ${cfg.ropeTheta}, tied embeddings, vocabulary ${cfg.vocabSize}.
- Tokenizer: a word/character hybrid trained by \`src/world/tokenizer-train.ts\`: every word of the fixed prompt texts
  is one token, content letters and digits are one token each, bytes fall back to \`<0xNN>\`. ChatML-style template.
- Optimizer: AdamW (beta2 0.95, weight decay ${options.weightDecay} except norms, clip ${options.gradClip}), ${schedule}${continued ? ' (a fresh optimizer)' : ''}.
- Stored in float16 (${(size / 1e6).toFixed(1)} MB); computed in float32.
${notes ? `\n${notes}\n` : ''}
## Quality (held-out set data/world-eval-v4.jsonl; \`npx selfplay eval --model models/default --world-quality\`)

Challenger: samples at temperature 1.0 from Box 1, per family. Solver: exact accuracy at temperature 0.01 on the
held-out set (easy = levels 1-3, hard = levels 4-6; the pretraining corpus covers levels ${coverage}). Judge: Box 3 on a
balanced set of valid and invalid/noisy instructions with mixed responses, temperature 0.01.

${quality}`;
fs.writeFileSync(path.join(modelDir, 'README.md'), card);
console.log(`wrote ${path.join(modelDir, 'README.md')}`);
