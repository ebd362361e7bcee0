/**
 * Fuzz target: the HTTP request schema of `selfplay serve` (src/serve/protocol.ts, src/serve/limits.ts).
 * Any JSON body either parses into a request inside every documented range, or is refused with a RequestError
 * whose status is 4xx, whose message starts with the field it names (as `param`), and is short.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { checkContentType } from '../../../src/serve/limits.ts';
import { MAX_N, parseCompletionRequest, RequestError, type CompletionRequest } from '../../../src/serve/protocol.ts';
import { awkwardJson, awkwardNumber, awkwardString, params, typedOrValue, viaJson, type FuzzProperty } from './common.ts';

const ROLES = ['system', 'developer', 'user', 'assistant', 'tool'];

/** Near-valid bodies: the real fields, each sometimes valid, sometimes any value. */
const part = fc.oneof(fc.record({ type: fc.constant('text'), text: awkwardString }), awkwardJson);
const message = fc.oneof(
  { weight: 4, arbitrary: fc.record({ role: fc.oneof(fc.constantFrom(...ROLES), awkwardJson), content: fc.oneof(awkwardString, fc.array(part, { maxLength: 3 }), awkwardJson) }, { requiredKeys: [] }) },
  { weight: 1, arbitrary: awkwardJson },
);
const maybe = <T>(valid: fc.Arbitrary<T>) => fc.oneof(valid, awkwardNumber, awkwardJson);
const body = fc.record(
  {
    model: fc.oneof(fc.constant('m'), awkwardJson),
    messages: fc.oneof({ weight: 5, arbitrary: fc.array(message, { maxLength: 4 }) }, { weight: 1, arbitrary: awkwardJson }),
    temperature: maybe(fc.double({ min: 0, max: 2, noNaN: true })),
    top_p: maybe(fc.double({ min: 0, max: 1, noNaN: true })),
    max_tokens: maybe(fc.integer({ min: 1, max: 4096 })),
    max_completion_tokens: maybe(fc.integer({ min: 1, max: 4096 })),
    seed: maybe(fc.maxSafeInteger()),
    n: maybe(fc.integer({ min: 1, max: MAX_N })),
    stop: fc.oneof(fc.array(awkwardString, { maxLength: 5 }), awkwardString, awkwardJson),
    stream: fc.oneof(fc.boolean(), awkwardJson),
  },
  { requiredKeys: [] },
);

/** The contract of a parsed request. */
function checkRequest(r: CompletionRequest): void {
  assert.ok(r.messages.length > 0);
  for (const m of r.messages) {
    assert.ok(['system', 'user', 'assistant', 'tool'].includes(m.role), m.role);
    assert.equal(typeof m.content, 'string');
  }
  assert.ok(Number.isFinite(r.temperature) && r.temperature >= 0 && r.temperature <= 2, `temperature ${r.temperature}`);
  assert.ok(Number.isFinite(r.topP) && r.topP > 0 && r.topP <= 1, `topP ${r.topP}`);
  assert.ok(Number.isInteger(r.n) && r.n >= 1 && r.n <= MAX_N, `n ${r.n}`);
  assert.ok(r.maxTokens === undefined || (Number.isSafeInteger(r.maxTokens) && r.maxTokens >= 1), `maxTokens ${r.maxTokens}`);
  assert.ok(r.seed === undefined || Number.isSafeInteger(r.seed), `seed ${r.seed}`);
  assert.ok(r.stop.length <= 4 && r.stop.every((s) => typeof s === 'string' && s.length > 0));
  assert.equal(typeof r.stream, 'boolean');
}

/** The contract of a refusal: 4xx, names its field first, one short line. */
function checkRefusal(e: Error): void {
  assert.ok(e instanceof RequestError, `${e.name}: ${e.message}`);
  assert.ok(e.status >= 400 && e.status < 500, `status ${e.status}`);
  const field = e.param ?? 'body';
  assert.ok(e.message.startsWith(`${field}:`) || (e.param !== null && e.message.startsWith(`${e.param}[`)), `"${e.message}" does not start with its field ${field}`);
  assert.ok(e.message.length <= 400, `a message of ${e.message.length} characters`);
}

function parse(v: unknown): void {
  const { value, error } = typedOrValue(() => parseCompletionRequest(viaJson(v), 'm'));
  if (value) checkRequest(value);
  else checkRefusal(error!);
}

export const httpProperties: FuzzProperty[] = [
  {
    name: 'near-valid chat-completion bodies',
    weight: 6,
    run: (n, seed) => fc.assert(fc.property(body, parse), params(n, seed)),
  },
  {
    name: 'any JSON value as the body',
    weight: 2,
    run: (n, seed) => fc.assert(fc.property(awkwardJson, parse), params(n, seed)),
  },
  {
    name: 'Content-Type header values',
    weight: 1,
    run: (n, seed) =>
      fc.assert(
        fc.property(fc.oneof(awkwardString, fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/plain')), (header) => {
          const { error } = typedOrValue(() => checkContentType(header));
          if (error) {
            assert.ok(error instanceof RequestError && error.status === 415 && error.message.startsWith('content-type: '), error.message);
            assert.ok(error.message.length <= 400);
          } else assert.match(header.toLowerCase(), /^\s*application\/json\s*(;|$)/);
        }),
        params(n, seed),
      ),
  },
];
