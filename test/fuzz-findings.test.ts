/**
 * What the fast-check fuzz suite (test/reliability/fuzz-*.test.ts) found, pinned as plain tests: each input used
 * to end in an untyped exception, a process abort or a message over several lines.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { InputError, JudgeError, ModelFormatError } from '../src/errors.ts';
import { readSafetensorsHeader } from '../src/model/safetensors.ts';
import { firstChoiceContent } from '../src/rewards/chat-client.ts';
import { overridesFromFlags } from '../src/rl/config-flags.ts';
import { loadConfigFile, resolveConfig } from '../src/rl/config.ts';
import { parseCompletionRequest } from '../src/serve/protocol.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fuzz-findings-'));

/** Runs `fn`, which must throw `cls` with a one-line message matching `message`. */
function refuses(fn: () => unknown, cls: new (...a: never[]) => Error, message: RegExp): void {
  assert.throws(fn, (e: Error) => {
    assert.ok(e instanceof cls, `${e.name}: ${e.message}`);
    assert.equal(e.message.split('\n').length, 1, `one line: ${JSON.stringify(e.message)}`);
    assert.match(e.message, message);
    return true;
  });
}

test('config: an unknown key with a newline or 600 characters is quoted on one short line', () => {
  refuses(() => resolveConfig({ 'a\nb': 1 }, {}, { fileName: 'c.yaml' }), InputError, /^c\.yaml: unknown setting "a\\nb"$/);
  const long = 'k'.repeat(600);
  refuses(() => resolveConfig({ [long]: 1 }, {}, { fileName: 'c.yaml' }), InputError, /^c\.yaml: unknown setting "k{79}\.\.\.$/);
});

test('config: a mapping nested 20,000 deep is one line, not a RangeError', () => {
  const file = path.join(tmp, 'deep.json');
  fs.writeFileSync(file, `{"sampling": ${'{"a": '.repeat(20_000)}1${'}'.repeat(20_000)}}`);
  refuses(() => resolveConfig(loadConfigFile(file), {}, { fileName: file }), InputError, /: "sampling\.a\.a\.a\.a\.a\.a\.a\.a": nested deeper than 8 levels; no setting is$/);
});

test('config: a YAML file of 20,000 nested brackets is refused before the yaml package (which aborted the process)', () => {
  const file = path.join(tmp, 'deep.yaml');
  fs.writeFileSync(file, `sampling: ${'['.repeat(20_000)}${']'.repeat(20_000)}`);
  refuses(() => loadConfigFile(file), InputError, /deep\.yaml: brackets nested 20000 deep; no setting nests deeper than 8$/);
  const ok = path.join(tmp, 'ok.yaml');
  fs.writeFileSync(ok, 'tasks: [reverse, largest]\nsampling: {solver: {topP: 0.9}}\njudgePrompt: "{instruction} [{response}]"\n');
  assert.deepEqual(resolveConfig(loadConfigFile(ok), {}).tasks, ['reverse', 'largest']);
});

test('flags: a number flag given a newline is quoted on one line', () => {
  refuses(() => overridesFromFlags({ weightDecay: '\n' }), InputError, /^--weight-decay: expected a number, got "\\n"$/);
});

test("judge client: a response body 'null' or with newlines is a one-line JudgeError, not a TypeError", () => {
  refuses(() => firstChoiceContent('null', 'http://j/v1'), JudgeError, /^http:\/\/j\/v1: response has no choices\[0\]\.message\.content: null$/);
  refuses(() => firstChoiceContent('\n<html>\n</html>', 'http://j/v1'), JudgeError, /^http:\/\/j\/v1: response is not JSON:  ?<html> <\/html>$/);
  assert.equal(firstChoiceContent('{"choices": [{"message": {"content": "ok"}}]}', 'http://j/v1'), 'ok');
});

test('safetensors: a tensor name with a newline is quoted on one line', () => {
  const file = path.join(tmp, 'newline.safetensors');
  const header = Buffer.from('{"a\\nb": 1}');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(header.length));
  fs.writeFileSync(file, Buffer.concat([prefix, header]));
  refuses(() => readSafetensorsHeader(file), ModelFormatError, /newline\.safetensors: tensor "a\\nb": header entry is not an object$/);
});

test('safetensors: a header that is not JSON is one line although V8 quotes its newline', () => {
  const file = path.join(tmp, 'notjson.safetensors');
  const header = Buffer.from('\n\u0000');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(header.length));
  fs.writeFileSync(file, Buffer.concat([prefix, header]));
  refuses(() => readSafetensorsHeader(file), ModelFormatError, /notjson\.safetensors: header: not valid UTF-8 JSON \(/);
});

test('HTTP schema: values echoed in errors are short (a 100,000-character role is not sent back)', () => {
  refuses(() => parseCompletionRequest({ messages: [{ role: 'x'.repeat(100_000), content: 'hi' }] }, 'm'), InputError, /^messages\[0\]\.role: .*got "x{79}\.\.\.$/);
});

test('HTTP schema: a small array of long strings is summarised, not echoed whole (stream: ["""..."""] gave 635 characters)', () => {
  const quotes = '"'.repeat(300);
  assert.throws(() => parseCompletionRequest({ messages: [{ role: 'user', content: 'hi' }], stream: [quotes] }, 'm'), (e: Error) => {
    assert.match(e.message, /^stream: must be a boolean, got an array of 1 elements$/);
    return true;
  });
});
