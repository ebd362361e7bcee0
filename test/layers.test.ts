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
