/**
 * The layer check: every module under src/ imports only from its own layer or a lower one, and no two top-level
 * folders import each other (directly or round a longer circle). The layers, top to bottom, and why each sits
 * where it does, are described in docs/architecture.md; LAYERS below is the one list both follow. One seam rule on
 * top: src/train/ (the loops) imports none of TRAIN_FORBIDDEN, so it trains only through a PolicyBackend.
 *
 *   npx tsx scripts/check-layers.ts          # prints each wrong-way import; exit code 1 if there is any
 *
 * test/layers.test.ts runs the same check in `npm test`. A new top-level folder under src/ must be added to LAYERS
 * (the check fails on a folder with no layer), which is the moment to decide where it belongs.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Top to bottom. A module may import from its own layer and any layer below it, never from one above. */
export const LAYERS: readonly (readonly string[])[] = [
  ['cli', 'dashboard'], //          commands and the browser dashboard: parse, call, print
  ['experiment', 'serve'], //       the paper reproduction; the HTTP server for generation
  ['eval'], //                      win rates, judges, world quality
  ['train'], //                     the loops: LSP/GRPO and pretraining, run folders, checkpoints
  ['game', 'rewards'], //           one iteration's rollout (challenger, solver, self-reward); reward sources
  ['backend'], //                   where the loop meets an engine (local ONNX engine, later remote ones)
  ['rl'], //                        the run config, advantages, losses
  ['world'], //                     the embedded task world: families, verifiers, corpus, held-out set
  ['generate'], //                  chat formatting and batched sampling with a KV cache
  ['model'], //                     Llama-family model, HF folders, tokenizer, LoRA, safetensors/GGUF
  ['tensor', 'runtime', 'optim'], //symbolic tensors + autodiff -> ONNX; ONNX Runtime; AdamW on host arrays
  ['prompts', 'util', 'errors'], // the paper's prompt texts; seeds, progress; typed errors
];

/**
 * What src/train/ may not import, although the layers would allow it: the loops (LSP/GRPO, pretraining) train
 * through a PolicyBackend (src/backend/backend.ts) and never hold weight arrays, graphs or optimizer state. A path
 * ending in `/` is a whole folder; `types` allows `import type` (settings shapes such as LoraConfig). Still allowed:
 * model/config.ts (config.json as JSON), model/tokenizer.ts (batches are token ids), model/save.ts (tokenizer files
 * and the save dtype; writing weights needs a weight map train cannot get), model/reward-model.ts (a reward source),
 * runtime/ (the process's ONNX Runtime, handed to the backend), backend/local.ts (to make the local backend).
 */
export const TRAIN_FORBIDDEN: readonly { module: string; why: string; types?: boolean }[] = [
  { module: 'model/engine.ts', why: 'runs graphs on weight arrays' },
  { module: 'model/graphs.ts', why: 'builds graphs and losses' },
  { module: 'model/prefix-graph.ts', why: 'builds graphs and losses' },
  { module: 'model/llama.ts', why: 'builds graphs' },
  { module: 'model/lm-head.ts', why: 'builds graphs' },
  { module: 'model/reward-graph.ts', why: 'builds graphs' },
  { module: 'model/modelfolder.ts', why: 'loads weight arrays' },
  { module: 'model/folder.ts', why: 'loads weight arrays' },
  { module: 'model/safetensors.ts', why: 'reads and writes tensor files' },
  { module: 'model/gguf.ts', why: 'writes weight arrays' },
  { module: 'model/lora.ts', why: 'makes and merges adapter weights', types: true },
  { module: 'optim/', why: 'holds optimizer internals' },
  { module: 'tensor/', why: 'builds graphs and their gradients' },
  { module: 'backend/local-policy.ts', why: "is LocalBackend's engine work" },
  { module: 'backend/random-init.ts', why: 'makes weight arrays' },
];

/** Why `from` (a path under src/) may not import `to`, or null when the seam rule allows it. */
export function seamViolation(from: string, to: string, typeOnly: boolean): string | null {
  if (unitOf(from) !== 'train') return null;
  const rel = to.split(path.sep).join('/');
  const hit = TRAIN_FORBIDDEN.find((f) => (f.module.endsWith('/') ? rel.startsWith(f.module) : rel === f.module));
  if (!hit || (hit.types && typeOnly)) return null;
  return `${hit.module} ${hit.why}; src/train/ trains only through a PolicyBackend`;
}

/** The top-level unit of a path under src/: its folder, or the file name without `.ts` for src/errors.ts. */
export function unitOf(rel: string): string {
  const first = rel.split(/[\\/]/)[0];
  return first.replace(/\.ts$/, '');
}

function layerIndex(unit: string): number {
  return LAYERS.findIndex((layer) => layer.includes(unit));
}

/**
 * Every relative import/export-from/dynamic import in a source text, with its 1-based line and whether the whole
 * statement is `import type` / `export type`.
 */
export function importsOf(text: string): { spec: string; line: number; typeOnly: boolean }[] {
  const out: { spec: string; line: number; typeOnly: boolean }[] = [];
  const re = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"](\.[^'"]+)['"]/gm;
  for (const m of text.matchAll(re)) {
    const before = text.slice(0, m.index);
    // a `from` clause belongs to the import/export statement that starts last before it
    const statement = before.slice(Math.max(before.lastIndexOf('\nimport'), before.lastIndexOf('\nexport')) + 1);
    const typeOnly = m[0].startsWith('from') && /^(import|export)\s+type\s/.test(statement);
    out.push({ spec: m[1], line: before.split('\n').length, typeOnly });
  }
  return out;
}

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

/** Folder-level circles (a -> b -> ... -> a) among units, each reported once. */
function circles(edges: Map<string, Set<string>>): string[][] {
  const found = new Map<string, string[]>();
  const walk = (start: string, at: string, trail: string[]) => {
    for (const next of edges.get(at) ?? []) {
      if (next === start) {
        const key = [...trail].sort().join(',');
        if (!found.has(key)) found.set(key, [...trail, start]);
      } else if (!trail.includes(next) && next > start) walk(start, next, [...trail, next]);
    }
  };
  for (const u of [...edges.keys()].sort()) walk(u, u, [u]);
  return [...found.values()];
}

/** The wrong-way imports and folder circles under `srcDir`, one readable line each (empty: the layers hold). */
export function layerViolations(srcDir: string): string[] {
  const problems: string[] = [];
  const edges = new Map<string, Set<string>>();
  const shown = (p: string) => path.join('src', path.relative(srcDir, p));
  for (const file of sourceFiles(srcDir).sort()) {
    const from = unitOf(path.relative(srcDir, file));
    const fromLayer = layerIndex(from);
    if (fromLayer < 0) problems.push(`${shown(file)}: src/${from} has no layer; add it to LAYERS in scripts/check-layers.ts`);
    for (const { spec, line, typeOnly } of importsOf(fs.readFileSync(file, 'utf8'))) {
      const target = path.resolve(path.dirname(file), spec);
      const rel = path.relative(srcDir, target);
      if (rel.startsWith('..')) {
        problems.push(`${shown(file)}:${line}: imports ${spec}, outside src/`);
        continue;
      }
      const seam = seamViolation(path.relative(srcDir, file), rel, typeOnly);
      if (seam) problems.push(`${shown(file)}:${line}: imports src/${rel} (${seam})`);
      const to = unitOf(rel);
      if (to === from) continue;
      if (!edges.has(from)) edges.set(from, new Set());
      edges.get(from)!.add(to);
      const toLayer = layerIndex(to);
      if (fromLayer >= 0 && toLayer >= 0 && toLayer < fromLayer) {
        problems.push(`${shown(file)}:${line}: imports src/${rel} (${from} may not import ${to}: ${to} is a higher layer)`);
      }
    }
  }
  for (const c of circles(edges)) problems.push(`folders import each other in a circle: ${c.join(' -> ')}`);
  return problems;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const src = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'src');
  const problems = layerViolations(src);
  for (const p of problems) console.log(p);
  const files = sourceFiles(src).length;
  console.log(problems.length ? `${problems.length} layer problem(s) in ${files} modules` : `layers hold: ${files} modules under src/ import only their own layer or lower ones, no folder circles; src/train/ trains only through a PolicyBackend`);
  process.exitCode = problems.length ? 1 : 0;
}
