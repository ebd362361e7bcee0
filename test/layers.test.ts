import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { layerViolations } from '../scripts/check-layers.ts';

test('layers: every module under src/ imports only its own layer or lower ones (scripts/check-layers.ts)', () => {
  assert.deepEqual(layerViolations(path.join(import.meta.dirname, '..', 'src')), []);
});

test('layers: the check reports an upward import, a folder circle, and a folder with no layer', () => {
  const src = fs.mkdtempSync(path.join(os.tmpdir(), 'layers-'));
  const write = (rel: string, text: string) => {
    fs.mkdirSync(path.dirname(path.join(src, rel)), { recursive: true });
    fs.writeFileSync(path.join(src, rel), text);
  };
  write('world/a.ts', "import { b } from '../train/b.ts';\nexport const a = b;\n");
  write('train/b.ts', "import type { A } from '../world/a.ts';\nexport const b = 1;\n");
  write('util/c.ts', "export const c = await import('../errors.ts');\n");
  write('errors.ts', 'export {};\n');
  write('misc/d.ts', "import { c } from '../util/c.ts';\n");
  const problems = layerViolations(src);
  assert.deepEqual(problems, [
    'src/misc/d.ts: src/misc has no layer; add it to LAYERS in scripts/check-layers.ts',
    'src/world/a.ts:1: imports src/train/b.ts (world may not import train: train is a higher layer)',
    'folders import each other in a circle: train -> world -> train',
  ]);
  fs.rmSync(src, { recursive: true, force: true });
});

test('layers: src/train/ trains only through a PolicyBackend: the engine, graphs, weight loaders and optimizer are refused', () => {
  const src = fs.mkdtempSync(path.join(os.tmpdir(), 'layers-seam-'));
  const write = (rel: string, text: string) => {
    fs.mkdirSync(path.dirname(path.join(src, rel)), { recursive: true });
    fs.writeFileSync(path.join(src, rel), text);
  };
  for (const m of ['model/engine.ts', 'model/lora.ts', 'model/tokenizer.ts', 'model/modelfolder.ts', 'optim/adamw.ts', 'backend/backend.ts', 'backend/local-policy.ts']) write(m, 'export {};\n');
  write(
    'train/loop.ts',
    [
      "import { ModelEngine } from '../model/engine.ts';",
      "import type { LoraConfig } from '../model/lora.ts';", // a settings shape: allowed
      "import { mergeLora } from '../model/lora.ts';",
      "import type { Tokenizer } from '../model/tokenizer.ts';",
      "import type { PolicyBackend } from '../backend/backend.ts';",
      "import {\n  AdamW,\n} from '../optim/adamw.ts';",
      "const f = await import('../model/modelfolder.ts');",
      "export { policyGradient } from '../backend/local-policy.ts';",
      '',
    ].join('\n'),
  );
  write('backend/local.ts', "import { ModelEngine } from '../model/engine.ts';\n"); // the backend may
  assert.deepEqual(layerViolations(src), [
    'src/train/loop.ts:1: imports src/model/engine.ts (model/engine.ts runs graphs on weight arrays; src/train/ trains only through a PolicyBackend)',
    'src/train/loop.ts:3: imports src/model/lora.ts (model/lora.ts makes and merges adapter weights; src/train/ trains only through a PolicyBackend)',
    'src/train/loop.ts:8: imports src/optim/adamw.ts (optim/ holds optimizer internals; src/train/ trains only through a PolicyBackend)',
    'src/train/loop.ts:9: imports src/model/modelfolder.ts (model/modelfolder.ts loads weight arrays; src/train/ trains only through a PolicyBackend)',
    "src/train/loop.ts:10: imports src/backend/local-policy.ts (backend/local-policy.ts is LocalBackend's engine work; src/train/ trains only through a PolicyBackend)",
  ]);
  fs.rmSync(src, { recursive: true, force: true });
});
