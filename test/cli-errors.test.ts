/** How the CLI reports errors: bad flags as one InputError line (exit 1), a broken invariant as a bug (exit 70). */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { reportError } from '../src/cli/main.ts';
import { InputError, InternalError, invariant } from '../src/errors.ts';

const root = path.join(import.meta.dirname, '..');

function selfplay(...args: string[]) {
  const r = spawnSync(process.execPath, [path.join(root, 'bin', 'selfplay.js'), ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('bad flags: one error line naming the flag, exit 1, no help dump and no stack', () => {
  const cases: [string[], string][] = [
    [['train', '--itertions', '3'], "error: unknown option '--itertions' (Did you mean --iterations?); --help lists the options\n"],
    [['bogus'], "error: unknown command 'bogus'; --help lists the options\n"],
    [['logprobs', '--input', 'x.json'], "error: required option '--model <dir>' not specified; --help lists the options\n"],
    [['generate', '--model', 'm', '--prompt', 'p', '--n', '0'], 'error: --n: expected a positive integer, got "0"\n'],
  ];
  for (const [args, want] of cases) {
    const r = selfplay(...args);
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr, want, args.join(' '));
    assert.equal(r.stdout, '');
  }
  const help = selfplay('train', '--help');
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--iterations/);
});

function captured(run: () => number): { code: number; text: string } {
  const write = process.stderr.write;
  let text = '';
  process.stderr.write = ((chunk: string) => ((text += chunk), true)) as typeof process.stderr.write;
  try {
    return { code: run(), text };
  } finally {
    process.stderr.write = write;
  }
}

test("an internal invariant is reported as selfplay's bug (please report, stack, exit 70), not as the user's input", () => {
  let broken: unknown;
  try {
    invariant([1, 2].length === 3, 'rows and advantages differ in length');
  } catch (e) {
    broken = e;
  }
  assert.ok(broken instanceof InternalError);
  for (const e of [broken, new TypeError('x is undefined')]) {
    const { code, text } = captured(() => reportError(e, false));
    assert.equal(code, 70);
    assert.match(text, /^internal error: (rows and advantages differ in length|x is undefined)\nThis is a bug in selfplay, not a problem with your input; please report it/);
    assert.match(text, /\n\s+at /, 'the stack is printed for the report');
  }
  const user = captured(() => reportError(new InputError('data.jsonl: line 3 is not JSON'), false));
  assert.deepEqual(user, { code: 1, text: 'error: data.jsonl: line 3 is not JSON\n' });
});
