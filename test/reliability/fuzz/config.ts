/**
 * Fuzz target: the train config loader (src/rl/config.ts loadConfigFile + resolveConfig) and the flags
 * (src/rl/config-flags.ts overridesFromFlags). Any file text, settings mapping or flag values either resolve to a
 * config the schema accepts, or are refused with an InputError whose every line names its source.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { InputError } from '../../../src/errors.ts';
import { configFlags, overridesFromFlags } from '../../../src/rl/config-flags.ts';
import { loadConfigFile, resolveConfig, trainConfigSchema, type TrainConfig } from '../../../src/rl/config.ts';
import { awkwardJson, awkwardNumber, awkwardString, jsonText, params, typedOrValue, type FuzzProperty } from './common.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fuzz-config-'));
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
const NOW = new Date(Date.UTC(2026, 0, 1));
const KEYS = Object.keys(trainConfigSchema.shape);
const ROLE_KEYS = ['temperature', 'topP', 'topK', 'maxTokens'];

/** A value for a setting: often plausible, sometimes anything. */
const settingValue = fc.oneof(
  fc.constantFrom('lsp', 'lsp-zero', 'grpo', 'all', 'none', 'verifier', 'reward-model:x', 'models/default', '{instruction} {response}', 'skip', 'stop', 'reverse', ''),
  fc.constantFrom(0, 1, 2, 8, 0.05, 1e-4, -1, 1.5),
  fc.boolean(),
  fc.array(fc.oneof(fc.constantFrom('reverse', 'largest', 'sort'), fc.record({ task: awkwardString, template: awkwardString })), { maxLength: 3 }),
  awkwardNumber,
  awkwardJson,
);
const sampling = fc.dictionary(
  fc.oneof(fc.constantFrom('challenger', 'solver', 'judge'), awkwardString),
  fc.oneof(fc.dictionary(fc.oneof(fc.constantFrom(...ROLE_KEYS), awkwardString), settingValue, { maxKeys: 4, noNullPrototype: true }), awkwardJson),
  { maxKeys: 3, noNullPrototype: true },
);
/** A settings mapping: known keys (and their near misses), with plausible or hostile values. */
const layer = fc.oneof(
  { weight: 5, arbitrary: fc.dictionary(fc.oneof(fc.constantFrom(...KEYS, 'beta', 'sampling'), fc.constantFrom('Iterations', 'alpha_ch', 'self-reward-weight', '__proto__', 'constructor'), awkwardString), fc.oneof(settingValue, sampling), { maxKeys: 6, noNullPrototype: true }) },
  { weight: 1, arbitrary: awkwardJson },
);

/** A resolved config is one the schema itself accepts, with the run folder decided. */
function checkConfig(c: TrainConfig): void {
  const again = trainConfigSchema.safeParse(c);
  assert.ok(again.success, `resolved config fails its own schema: ${JSON.stringify(again.error?.issues)}`);
  assert.ok(typeof c.out === 'string' && c.out.length > 0);
}

/** Every line of a refusal names where the problem is. */
function checkRefusal(e: Error, sources: readonly string[]): void {
  assert.ok(e instanceof InputError, `${e.name}: ${e.message}`);
  for (const line of e.message.split('\n')) {
    assert.ok(sources.some((s) => line.startsWith(s)), `a line that names no source: ${line.slice(0, 300)}`);
    assert.ok(line.length <= 1000, `a line of ${line.length} characters`);
  }
}

function resolve(file: unknown, flags: unknown, fileName = 'config.yaml'): void {
  const { value, error } = typedOrValue(() => resolveConfig(file, flags, { fileName, flagsName: 'command line', now: NOW }), [InputError], Infinity);
  if (value) checkConfig(value);
  else checkRefusal(error!, [fileName, 'command line', 'config']);
}

/** Config file text: JSON of a mapping, or YAML with anchors, aliases, tags, merge keys and duplicate keys. */
const fileText = fc.oneof(
  layer.map((l) => ({ ext: 'json', text: jsonText(l) })),
  layer.map((l) => ({ ext: 'yaml', text: jsonText(l) })),
  fc
    .array(
      fc.oneof(
        fc.constantFrom('iterations: 3', 'N: &n 4', 'G: *n', 'mode: !!str lsp', 'lr: !!float 1e-4', 'seed: 0x10', '<<: {N: 2}', 'N: 2', 'N: 3', 'sampling:', '  solver:', '    topP: .5',
          'tasks: [reverse, count]', 'tasks:', '  - task: x', '    template: y', 'quiet: yes', 'beta: .inf', 'lr: .nan', '? complex', ': key', '---', '...', '%YAML 1.2', 'a: &a [*a]', 'x: !!binary aGVsbG8=', '- item', '"', "'", '{', '['),
        awkwardString,
      ),
      { maxLength: 8 },
    )
    .map((lines) => ({ ext: 'yaml', text: lines.join('\n') })),
  fc.record({ ext: fc.constantFrom('json', 'yaml'), text: awkwardString }),
  fc.record({ ext: fc.constantFrom('json', 'yaml'), depth: fc.integer({ min: 100, max: 20_000 }) }).map(({ ext, depth }) => ({
    ext,
    text: ext === 'json' ? `{"sampling": ${'{"a": '.repeat(depth)}1${'}'.repeat(depth)}}` : `sampling: ${'['.repeat(depth)}${']'.repeat(depth)}`,
  })),
);

let fileCount = 0;

export const configProperties: FuzzProperty[] = [
  {
    name: 'resolveConfig on settings mappings from a file and the flags',
    weight: 5,
    run: (n, seed) => fc.assert(fc.property(layer, fc.oneof(fc.constant({}), layer), (file, flags) => resolve(file, flags)), params(n, seed)),
  },
  {
    name: 'loadConfigFile then resolveConfig on any file text',
    weight: 3,
    run: (n, seed) =>
      fc.assert(
        fc.property(fileText, ({ ext, text }) => {
          const file = path.join(dir, `c${fileCount++ % 16}.${ext}`);
          fs.writeFileSync(file, text);
          const { value, error } = typedOrValue(() => loadConfigFile(file), [InputError]);
          if (error) assert.ok(error.message.startsWith(`${file}: `), error.message);
          else resolve(value, {}, file);
        }),
        params(n, seed),
      ),
  },
  {
    name: 'overridesFromFlags on any flag values, then resolveConfig',
    weight: 2,
    run: (n, seed) => {
      const flags = configFlags();
      const flagValue = fc.oneof(fc.constantFrom('1', '0', '-1', '1e999', 'NaN', '', ' ', 'all', 'none', 'reverse,count', 'lsp', 'true'), awkwardString, fc.boolean(), awkwardNumber);
      const opts = fc.dictionary(fc.constantFrom(...flags.map((f) => f.attribute), 'threads', 'config'), flagValue, { maxKeys: 5, noNullPrototype: true });
      fc.assert(
        fc.property(opts, (o) => {
          const { value, error } = typedOrValue(() => overridesFromFlags(o), [InputError]);
          if (error) assert.match(error.message, /^--[a-z]/i);
          else resolve({}, value);
        }),
        params(n, seed),
      );
    },
  },
];
