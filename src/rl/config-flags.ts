/**
 * Command-line flags derived from the config schema (src/rl/config.ts), so help text and defaults live in one place:
 * every scalar field is a flag (`alphaCh` -> `--alpha-ch`, `N` -> `--N`, `sampling.solver.topP` -> `--solver-top-p`),
 * `--tasks` takes `all`, `none` or a comma-separated list of families; `lora` and task/template lists are
 * file-only. Commander turns `--alpha-ch` into the attribute `alphaCh`; {@link overridesFromFlags} maps the parsed
 * attributes back into a partial config for resolveConfig.
 */
import { z } from 'zod';
import { InputError } from '../errors.ts';
import { brief } from '../util/brief.ts';
import { trainConfigSchema } from './config.ts';

export interface ConfigFlag {
  /** Commander flag spec, e.g. `--alpha-ch <number>` or `--quiet`. */
  flag: string;
  /** The attribute commander stores the value under, e.g. `alphaCh`. */
  attribute: string;
  /** Where the value goes in the config, e.g. ['sampling', 'solver', 'topP']. */
  path: string[];
  /** The field's one-line reason, with its default. */
  description: string;
  kind: 'number' | 'integer' | 'string' | 'boolean' | 'enum' | 'tasks';
  /** The schema of the value itself (no default), for checking a flag's value alone. */
  schema: z.ZodType;
  /** A boolean that defaults to true also gets `--no-<name>`, which turns it off. */
  negate?: string;
}

const kebab = (key: string) => (key.length === 1 ? key : key.replace(/[A-Z]/g, (m) => `-${m.toLowerCase()}`));
const camel = (flag: string) => flag.replace(/-([a-zA-Z])/g, (_m, c: string) => c.toUpperCase());

function unwrap(schema: z.ZodType): { inner: z.ZodType; fallback: unknown } {
  let s = schema;
  let fallback: unknown;
  while (s instanceof z.ZodDefault || s instanceof z.ZodPrefault || s instanceof z.ZodOptional || s instanceof z.ZodNullable) {
    if (s instanceof z.ZodDefault) fallback = s._zod.def.defaultValue;
    s = s._zod.def.innerType as z.ZodType;
  }
  return { inner: s, fallback };
}

function kindOf(inner: z.ZodType): ConfigFlag['kind'] | null {
  if (inner instanceof z.ZodNumber) return inner.format === 'safeint' ? 'integer' : 'number';
  if (inner instanceof z.ZodString) return 'string';
  if (inner instanceof z.ZodBoolean) return 'boolean';
  if (inner instanceof z.ZodEnum) return 'enum';
  return null;
}

function describe(schema: z.ZodType, inner: z.ZodType, fallback: unknown): string {
  const text = schema.description ?? inner.description ?? '';
  const choices = inner instanceof z.ZodEnum ? ` [${(inner.options as string[]).join(', ')}]` : '';
  const shown = JSON.stringify(fallback);
  const dflt = fallback === undefined || shown.length > 40 ? '' : ` (default ${shown})`;
  return `${text}${choices}${dflt}`;
}

function leafFlag(pathParts: string[], schema: z.ZodType, name: string): ConfigFlag | null {
  const { inner, fallback } = unwrap(schema);
  const kind = pathParts[0] === 'tasks' ? 'tasks' : kindOf(inner);
  if (!kind) return null;
  const placeholder = kind === 'boolean' ? '' : ` <${kind === 'integer' || kind === 'number' ? 'number' : kind === 'tasks' ? 'list' : 'value'}>`;
  const negate = kind === 'boolean' && fallback === true ? `--no-${name}` : undefined;
  return { flag: `--${name}${placeholder}`, attribute: camel(name), path: pathParts, description: describe(schema, inner, fallback), kind, schema: pathParts[0] === 'tasks' ? schema : inner, negate };
}

/** Every flag the config offers, in schema order. */
export function configFlags(): ConfigFlag[] {
  const flags: ConfigFlag[] = [];
  for (const [key, field] of Object.entries(trainConfigSchema.shape) as [string, z.ZodType][]) {
    const { inner } = unwrap(field);
    if (key === 'sampling' && inner instanceof z.ZodObject) {
      for (const [role, roleSchema] of Object.entries(inner.shape) as [string, z.ZodType][]) {
        const roleObject = unwrap(roleSchema).inner as z.ZodObject;
        for (const [leaf, leafSchema] of Object.entries(roleObject.shape) as [string, z.ZodType][]) {
          const f = leafFlag(['sampling', role, leaf], leafSchema, `${role}-${kebab(leaf)}`);
          if (f) flags.push(f);
        }
      }
      continue;
    }
    const f = leafFlag([key], field, kebab(key));
    if (f) flags.push(f);
  }
  return flags;
}

/** A flag's raw value (a string from the command line, or already typed) as the config value. */
function convert(f: ConfigFlag, raw: unknown): unknown {
  const name = f.flag.split(' ')[0];
  let value = raw;
  if (typeof raw === 'string' && (f.kind === 'number' || f.kind === 'integer')) {
    value = raw.trim() === '' ? NaN : Number(raw);
    if (!Number.isFinite(value)) throw new InputError(`${name}: expected a number, got ${brief(raw)}`);
  }
  if (typeof raw === 'string' && f.kind === 'tasks' && raw !== 'all' && raw !== 'none') {
    value = raw.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  }
  const checked = f.schema.safeParse(value);
  if (!checked.success) throw new InputError(`${name}: ${checked.error.issues.map((i) => i.message).join('; ')}`);
  return value;
}

/** The partial config given by parsed flags (commander's opts()); attributes that are not config flags are ignored. */
export function overridesFromFlags(opts: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of configFlags()) {
    const raw = opts[f.attribute];
    if (raw === undefined) continue;
    let node = out;
    for (const part of f.path.slice(0, -1)) node = (node[part] ??= {}) as Record<string, unknown>;
    node[f.path[f.path.length - 1]] = convert(f, raw);
  }
  return out;
}
