/**
 * Bad model folders with real tokenizers, as a user meets them on the command line: a config.json vocab_size below the
 * tokenizer's ids, and a tokenizer without a chat template (for every command that renders chats: generate --chat,
 * serve, eval, train). Each is one `error:` line naming the file, no stack trace; train checks the model before it
 * claims its run folder, so nothing is written and a retry can use the same --out.
 * `--chat-template FILE` then makes the same folder work, and travels with the trained model.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildRealModelFolder, MISTRAL_CHAT_TEMPLATE } from '../scripts/make-real-model.ts';
import { generateCommand } from '../src/cli/generate.ts';
import { main } from '../src/cli/main.ts';
import { loadTokenizer } from '../src/model/tokenizer.ts';

const repo = path.join(import.meta.dirname, '..');
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'real-bad-'));
const smallVocab = path.join(root, 'small-vocab');
const noTemplate = path.join(root, 'no-template');
const templateFile = path.join(root, 'mistral.jinja');
before(() => {
  buildRealModelFolder({ shape: 'tiny', tokenizer: 'llama3', out: smallVocab, vocabSize: 32000 });
  buildRealModelFolder({ shape: 'tiny', tokenizer: 'mistral', out: noTemplate, chatTemplate: false });
  fs.writeFileSync(templateFile, MISTRAL_CHAT_TEMPLATE);
});
after(() => fs.rmSync(root, { recursive: true, force: true }));

/**
 * Runs the CLI in this process; returns its exit code and what it wrote to stderr. (stdout is left alone: the test
 * runner reports through it. Commands that succeed here print nothing on stdout but generate's text.)
 */
async function selfplay(...args: string[]): Promise<{ code: number; stderr: string }> {
  let stderr = '';
  const write = process.stderr.write;
  process.stderr.write = ((s: string) => ((stderr += s), true)) as typeof process.stderr.write;
  try {
    return { code: await main(['node', 'selfplay', ...args]), stderr };
  } finally {
    process.stderr.write = write;
  }
}

function assertOneLine(stderr: string, pattern: RegExp): void {
  const lines = stderr.trimEnd().split('\n').filter((l) => !l.startsWith('lsp on ')); // train announces the run first
  assert.equal(lines.length, 1, `expected one error line, got:\n${stderr}`);
  assert.match(lines[0], /^error: /);
  assert.match(lines[0], pattern);
  assert.doesNotMatch(stderr, /\n\s+at /, 'stack trace');
}

test('config vocab_size smaller than the tokenizer: one line naming config.json, from the real binary', async () => {
  const r = spawnSync(process.execPath, [path.join(repo, 'bin', 'selfplay.js'), 'generate', '--model', smallVocab, '--prompt', 'hi'], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.equal(
    r.stderr,
    `error: ${path.join(smallVocab, 'config.json')}: vocab_size 32000 is smaller than the tokenizer's 128256 ids ` +
      `(${path.join(smallVocab, 'tokenizer.json')}); the embedding needs a row for every token id\n`,
  );
  const out = path.join(root, 'run-small-vocab');
  const t = await selfplay('train', '--model', smallVocab, '--out', out, '--threads', '1', '--quiet');
  assert.equal(t.code, 1);
  assertOneLine(t.stderr, /config\.json: vocab_size 32000 is smaller than the tokenizer's 128256 ids/);
  assert.ok(!fs.existsSync(out), 'nothing written');
});

/** The run folder of a train that fails on the model; the test with --chat-template retries into it. */
const trainRun = path.join(root, 'run');
const NO_TEMPLATE = new RegExp(`${path.join(noTemplate, 'tokenizer_config.json').replace(/[/.]/g, '\\$&')}: no chat_template.*--chat-template FILE`);

test('no chat template: generate --chat, serve, eval and train each print one line naming the file and --chat-template', async () => {
  const commands = [
    ['generate', '--model', noTemplate, '--prompt', 'hi', '--chat', '--threads', '1'],
    ['serve', '--model', noTemplate, '--port', '0', '--threads', '1'],
    ['eval', '--model', noTemplate, '--baseline', noTemplate, '--set', 'world', '--limit', '1', '--out', path.join(root, 'eval'), '--threads', '1'],
    ['train', '--model', noTemplate, '--iterations', '1', '--out', trainRun, '--threads', '1', '--quiet'],
  ];
  for (const args of commands) {
    const r = await selfplay(...args);
    assert.equal(r.code, 1, `${args[0]}: exit code ${r.code}\n${r.stderr}`);
    assertOneLine(r.stderr, NO_TEMPLATE);
  }
  assert.ok(!fs.existsSync(trainRun), 'train checks the model before it claims the run folder (a retry may use it)');
  // plain-text generation needs no template
  const plain = await generateCommand({ model: noTemplate, prompt: 'hi', maxTokens: 3, threads: 1 });
  assert.equal(plain.length, 1);
});

test('--chat-template FILE: generate --chat renders with it; an unreadable file is one line', async () => {
  const texts = await generateCommand({ model: noTemplate, prompt: 'hi', chat: true, chatTemplate: templateFile, maxTokens: 3, n: 2, threads: 1 });
  assert.equal(texts.length, 2);
  const tok = loadTokenizer(noTemplate, { chatTemplateFile: templateFile });
  assert.equal(tok.applyChatTemplate([{ role: 'user', content: 'hi' }], { addGenerationPrompt: true }), '<s>[INST] hi [/INST]');
  const missing = path.join(root, 'missing.jinja');
  const r = await selfplay('generate', '--model', noTemplate, '--prompt', 'hi', '--chat', '--chat-template', missing);
  assert.equal(r.code, 1);
  assertOneLine(r.stderr, new RegExp(`--chat-template ${missing.replace(/[/.]/g, '\\$&')}: cannot read \\(ENOENT\\)`));
});

test('train --chat-template FILE: LSP runs on the template-less folder; the trained model carries the template', async () => {
  const run = trainRun; // where the attempt without a template failed
  const r = await selfplay(
    'train', '--model', noTemplate, '--chat-template', templateFile, '--out', run, '--iterations', '1', '--N', '2', '--G', '2',
    '--challenger-max-tokens', '6', '--solver-max-tokens', '6', '--judge-max-tokens', '6', '--threads', '1', '--quiet',
  );
  assert.equal(r.code, 0, r.stderr);
  assert.equal(fs.readFileSync(path.join(run, 'model', 'chat_template.jinja'), 'utf8'), MISTRAL_CHAT_TEMPLATE);
  const saved = JSON.parse(fs.readFileSync(path.join(run, 'config.json'), 'utf8')) as { chatTemplate: string };
  assert.equal(saved.chatTemplate, templateFile);
  const samples = fs.readFileSync(path.join(run, 'samples.jsonl'), 'utf8').trim().split('\n');
  assert.equal(samples.length, 2);
});

test('a chat template that does not parse: one line naming its file, at load (serve) and before the run folder (train)', async () => {
  const broken = path.join(root, 'broken.jinja');
  fs.writeFileSync(broken, '{% for m in messages %}{{ m.content }}');
  const pattern = new RegExp(`${broken.replace(/[/.]/g, '\\$&')}: chat_template: `);
  const serve = await selfplay('serve', '--model', noTemplate, '--chat-template', broken, '--port', '0', '--threads', '1');
  assert.equal(serve.code, 1);
  assertOneLine(serve.stderr, pattern);
  const out = path.join(root, 'run-broken-template');
  const t = await selfplay('train', '--model', noTemplate, '--chat-template', broken, '--out', out, '--threads', '1', '--quiet');
  assert.equal(t.code, 1);
  assertOneLine(t.stderr, pattern);
  assert.ok(!fs.existsSync(out), 'nothing written');
});
