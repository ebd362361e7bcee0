/**
 * The `selfplay` command line: parses, calls library code, prints. Errors a user can cause (SelfplayError,
 * commander's complaints about flags turned into InputError, and file-system failures) print one line and exit 1;
 * anything else is a bug in selfplay: it is reported as an internal error with a request to report it and its
 * stack, and exits 70.
 */
import { Command, CommanderError } from 'commander';
import { InputError, SelfplayError } from '../errors.ts';
import { evalCommand } from './eval.ts';
import { exportCommand } from './export.ts';
import { generateCommand } from './generate.ts';
import { logprobsCommand } from './logprobs.ts';
import { pretrainCommand } from './pretrain.ts';
import { serveCommand } from './serve.ts';
import { trainCommand } from './train.ts';
import { budgetHelp, paperCommand } from './experiment.ts';
import { dashboardCommand } from './dashboard.ts';
import { configFlags } from '../rl/config-flags.ts';
import { describeFsError, isErrno } from '../util/fs.ts';

function program(): Command {
  const cli = new Command('selfplay')
    .description('Language Self-Play (arXiv 2509.07414) in TypeScript: a model improves itself by playing challenger and solver.')
    .addHelpText('after', '\nAdd --debug to any command to see the stack trace behind an error.')
    .exitOverride()
    .configureOutput({ outputError: () => {} }); // parse errors are printed by main(), in one line
  cli
    .command('logprobs')
    .description('Print the log-probability of each token given the ones before it (first token: null), as JSON.')
    .requiredOption('--model <dir>', 'HF-format model folder (config.json + model.safetensors)')
    .requiredOption('--input <file>', 'JSON file {"sequences": [[token ids...], ...]}')
    .option('--threads <n>', 'ONNX Runtime threads (default: all cores)', (v) => parsePositiveInt(v, '--threads'))
    .action(async (opts) => {
      process.stdout.write(`${JSON.stringify(await logprobsCommand(opts))}\n`);
    });
  cli
    .command('generate')
    .description('Sample completions of a prompt and print only their text, each followed by a newline (same seed, same bytes).')
    .requiredOption('--model <dir>', 'HF-format model folder with its tokenizer')
    .requiredOption('--prompt <text>', 'the prompt')
    .option('--chat', "render the prompt as a user turn through the model's chat template")
    .option('--chat-template <file>', "Jinja chat template file to use instead of the model folder's own; with --chat (for tokenizers that ship none)")
    .option('--n <k>', 'completions to sample (default 1)', (v) => parsePositiveInt(v, '--n'))
    .option('--temperature <t>', '0 = greedy (default: generation_config.json, else 1)', (v) => parseNonNegative(v, '--temperature'))
    .option('--top-p <p>', 'nucleus sampling mass in (0, 1] (default: generation_config.json, else 1 = off)', (v) => parseNonNegative(v, '--top-p'))
    .option('--top-k <k>', 'keep the k most likely tokens (default: generation_config.json, else 0 = off)', (v) => parseNonNegativeInt(v, '--top-k'))
    .option('--max-tokens <m>', 'new tokens at most (default: generation_config.json max_new_tokens, else 128)', (v) => parsePositiveInt(v, '--max-tokens'))
    .option('--seed <s>', 'sampling seed (default 0)', (v) => parseNonNegativeInt(v, '--seed'))
    .option('--threads <n>', 'ONNX Runtime threads (default: all cores)', (v) => parsePositiveInt(v, '--threads'))
    .action(async (opts) => {
      const texts = await generateCommand(opts);
      process.stdout.write(texts.map((t) => `${t}\n`).join(''));
    });
  cli
    .command('export')
    .description('Write an HF model folder as one GGUF file for llama.cpp / Ollama (a LoRA adapter is merged first).')
    .requiredOption('--model <dir>', 'HF-format model folder')
    .requiredOption('--gguf <file>', 'output .gguf file (written atomically)')
    .option('--dtype <dtype>', 'f16 or f32 storage of the weight matrices (default f16)')
    .option('--adapter <dir>', 'PEFT LoRA adapter folder to merge (default: the model folder, if it has adapter_config.json)')
    .action((opts) => {
      const r = exportCommand(opts);
      const merged = r.mergedAdapter ? `, adapter ${r.mergedAdapter} merged` : '';
      process.stderr.write(`wrote ${r.file}: ${r.tensors} tensors, ${(r.bytes / 1e6).toFixed(1)} MB${merged}\n`);
    });
  cli
    .command('eval')
    .description('Win rate of --model against --baseline on an instruction set, judged pairwise (as the paper evaluates).')
    .option('--model <dir>', 'the evaluated model (HF folder with tokenizer and chat template)')
    .option('--baseline <dir>', 'the model it is compared with (e.g. the base model before training)')
    .option('--chat-template <file>', "Jinja chat template file to use instead of each model folder's own (for tokenizers that ship none)")
    .option('--set <file|world>', 'AlpacaEval JSON, JSONL with "instruction" (optional "subset"), world (the held-out set) or world-large (420 per family)')
    .option('--judge <spec>', 'verifier (world only; the default there), reward-model:DIR, or openai:URL')
    .option('--judge-model <name>', 'openai judge: the model name on the endpoint')
    .option('--judge-api-key <key>', 'openai judge: API key (default: env OPENAI_API_KEY)')
    .option('--judge-concurrency <n>', 'openai judge: requests in flight (default 4)', (v) => parsePositiveInt(v, '--judge-concurrency'))
    .option('--judge-max-tokens <n>', 'openai judge: tokens per judgement (default 512)', (v) => parsePositiveInt(v, '--judge-max-tokens'))
    .option('--temperature <t>', 'sampling temperature of both models (default 0.01, as in the paper)', (v) => parseNonNegative(v, '--temperature'))
    .option('--max-tokens <m>', 'tokens per answer (default 64 for world, else 512)', (v) => parsePositiveInt(v, '--max-tokens'))
    .option('--limit <k>', 'evaluate k instructions, taken round-robin across subsets (--accuracy: spread evenly over families and levels)', (v) => parsePositiveInt(v, '--limit'))
    .option('--seed <s>', 'sampling and bootstrap seed (default 1)', (v) => parseNonNegativeInt(v, '--seed'))
    .option('--batch-size <b>', 'prompts per generation batch (default 16)', (v) => parsePositiveInt(v, '--batch-size'))
    .option('--out <dir>', 'report folder; also holds the judgement cache, so a rerun resumes (default runs/eval/<model>-vs-<baseline>-<set>)')
    .option('--threads <n>', 'ONNX Runtime threads (default: all cores)', (v) => parsePositiveInt(v, '--threads'))
    .option('--quiet', 'log lines instead of progress bars')
    .option('--accuracy', 'instead: greedy, mean@k (temperature 1) and maj@k accuracy of --model per family and level on --set world-large (the default here) or world, with paired tests against --baseline if given')
    .option('--k <k>', '--accuracy: samples per item at temperature 1 (default 8)', (v) => parsePositiveInt(v, '--k'))
    .option('--world-quality', 'instead: measure a world model\'s challenger, solver and judge against the default model\'s quality bar (--model, default models/default; --out writes JSON and markdown)')
    .action(async (opts) => evalCommand(opts));
  cli
    .command('serve')
    .description('Serve a chat model over an OpenAI-compatible HTTP API (/v1/models, /v1/chat/completions), batching concurrent requests; with --tinker, serve the Tinker training API instead (docs/tinker-server.md).')
    .option('--model <dir>', 'HF-format model folder with tokenizer and chat template (with --tinker: a base model clients may train, by folder name; repeatable)', (v: string, prev: string[] = []) => [...prev, v])
    .option('--tinker', 'serve the Tinker training API (create_model, forward_backward, optim_step, asample, save/load weights, futures) on the --model / --model-dir base models, so a Tinker client trains on this CPU')
    .option('--model-dir <root>', 'with --tinker: every subfolder of <root> holding a config.json is a base model, by folder name (repeatable)', (v: string, prev: string[] = []) => [...prev, v])
    .option('--state-dir <dir>', 'with --tinker: where save_weights and save_weights_for_sampler write (default runs/tinker-state); nothing is written outside it')
    .option('--max-models <n>', 'with --tinker: models held at once, each a policy + reference in memory (default 4)', (v) => parsePositiveInt(v, '--max-models'))
    .option('--api-key <key>', 'require this key on every request (X-API-Key or Authorization: Bearer); needed for a non-loopback --host; or set SELFPLAY_API_KEY')
    .option('--port <p>', 'TCP port (default 8000; 0 = any free port)', (v) => parseNonNegativeInt(v, '--port'))
    .option('--host <addr>', 'address to listen on (default 127.0.0.1, loopback only; any other address needs --api-key)')
    .option('--name <id>', 'model id in the API (default: the folder name)')
    .option('--chat-template <file>', "Jinja chat template file to use instead of the model folder's own (for tokenizers that ship none)")
    .option('--max-tokens <m>', 'completion budget when a request sets none (default 512)', (v) => parsePositiveInt(v, '--max-tokens'))
    .option('--max-body-mb <n>', 'largest request body in MiB (default 2; 64 with --tinker); larger bodies get 413 before they are read', (v) => parsePositiveInt(v, '--max-body-mb'))
    .option('--threads <n>', 'ONNX Runtime threads (default: all cores)', (v) => parsePositiveInt(v, '--threads'))
    .option('--quiet', 'no log line per request')
    .action(async (opts) => serveCommand(opts));
  cli
    .command('pretrain')
    .description('Train the embedded world model from scratch, or continue one with --init (challenger, solver and judge roles); resumable.')
    .option('--seed <n>', 'seed of the corpus, the tokenizer and the initial weights (default 1; 2 with --init)', (v) => parsePositiveInt(v, '--seed'))
    .option('--init <dir>', 'continue this world model folder on the current world (its weights and tokenizer, a fresh optimizer, 4000 steps at lr 3e-4, judge-heavier mix)')
    .option('--out <dir>', 'run folder: tokenizer/, checkpoints/, log.jsonl, and model/ at the end (default runs/pretrain-seed<seed>)')
    .option('--resume <dir>', 'continue the run in <dir> from its newest checkpoint, with its saved options')
    .option('--steps <n>', 'total optimizer steps (default 6000; 4000 with --init)', (v) => parsePositiveInt(v, '--steps'))
    .option('--max-steps <n>', 'stop after this many steps in this process (resumable later)', (v) => parsePositiveInt(v, '--max-steps'))
    .option('--threads <n>', 'ONNX Runtime threads (default: all cores)', (v) => parsePositiveInt(v, '--threads'))
    .option('--quiet', 'log lines instead of a progress bar')
    .action(async (opts) => pretrainCommand(opts));
  const trainCmd = cli
    .command('train')
    .description('LSP self-play: the model plays challenger and solver and improves itself (default: LSP on models/default).')
    .option('--config <file>', 'JSON or YAML file with any of the settings below (flags override it)')
    .option('--resume <dir>', 'continue the run in <dir> from its last checkpoint (with --iterations: up to that total)')
    .option('--threads <n>', 'ONNX Runtime threads (default: all cores)', (v) => parsePositiveInt(v, '--threads'))
    .option('--api-key <key>', 'with --backend tinker:URL: the service\'s API key (default: the TINKER_API_KEY environment variable); never saved in the run folder');
  for (const f of configFlags()) {
    trainCmd.option(f.flag, f.description);
    if (f.negate) trainCmd.option(f.negate, `turn ${f.flag} off`);
  }
  trainCmd.action(async (opts) => trainCommand(opts));
  cli
    .command('dashboard')
    .description('Watch runs in the browser: curves, the game feed (queries, answers, judge), diversity, guards, win rates; live while training.')
    .argument('[runs-dir]', 'folder of run folders (searched 3 levels deep)', 'runs')
    .option('--port <p>', 'TCP port (default 8080; 0 = any free port)', (v) => parseNonNegativeInt(v, '--port'))
    .option('--host <addr>', 'address to listen on (default 127.0.0.1, loopback only)')
    .option('--export <file>', 'instead of serving: write one self-contained HTML report of a run')
    .option('--run <name>', 'with --export: the run (its folder relative to runs-dir)')
    .action(async (root: string, opts) => dashboardCommand(root, opts));
  cli
    .command('experiment')
    .description("Reproduce the paper's experiments in the embedded world.")
    .command('paper')
    .description("The budget's arms (GRPO with data, LSP-Zero, LSP, the reward-option ablation; LSP from GRPO in full); each evaluated against the base with win rates and paired accuracy tests; writes docs/results/paper.md. Resumable.")
    .option('--model <dir>', 'the base model (default models/default)')
    .option('--budget <b>', `small or full (default small); ${budgetHelp()}`)
    .option('--seed <s>', 'seed of every arm, the GRPO prompt set and the evaluation (default 1)', (v) => parseNonNegativeInt(v, '--seed'))
    .option('--out <dir>', 'experiment folder, one run folder per arm (default runs/experiment-paper-<budget>)')
    .option('--doc <file>', 'the write-up; its SVG figures go next to it (default docs/results/paper.md)')
    .option('--grpo-frontier [lo,hi]', "GRPO prompts only from levels where the base model's exact success at temperature 1 is in [lo, hi] (alone: 0.2,0.8; measured once, saved as grpo-frontier.json); default: the budget's (0.2,0.8 for small and full; 0,1 keeps every level)")
    .option('--threads <n>', 'ONNX Runtime threads (default: all cores)', (v) => parsePositiveInt(v, '--threads'))
    .option('--quiet', 'log lines instead of progress bars')
    .option('--also <results.json...>', "quote the headline numbers of other finished experiments (e.g. another seed's <out>/results.json) in the doc")
    .action(async (opts) => paperCommand(opts));
  return cli;
}

function parsePositiveInt(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InputError(`${flag}: expected a positive integer, got "${value}"`);
  return n;
}

function parseNonNegativeInt(value: string, flag: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < 0) throw new InputError(`${flag}: expected an integer >= 0, got "${value}"`);
  return n;
}

function parseNonNegative(value: string, flag: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw new InputError(`${flag}: expected a number >= 0, got "${value}"`);
  return n;
}

/** Commander's exits that are not errors: help and version were printed as asked. */
const COMMANDER_DONE = new Set(['commander.helpDisplayed', 'commander.help', 'commander.version']);

/** A commander complaint (unknown option or command, missing value...) as the one-line InputError of bad input. */
export function flagError(e: CommanderError): InputError {
  const text = e.message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ');
  return new InputError(`${text}; --help lists the options`);
}

/** Prints an error the way the CLI reports it; returns the exit code (1: the user's input, 70: a bug in selfplay). */
export function reportError(e: unknown, debug: boolean): number {
  if (e instanceof SelfplayError) {
    process.stderr.write(`error: ${e.message}\n`);
    if (debug) process.stderr.write(`${e.stack}\n`);
    return 1;
  }
  // a file-system failure not caught where it happened is still the user's disk, not a bug: one line
  if (isErrno(e)) {
    process.stderr.write(`error: ${describeFsError(e)}\n`);
    if (debug) process.stderr.write(`${e.stack}\n`);
    return 1;
  }
  const err = e instanceof Error ? e : new Error(String(e));
  process.stderr.write(
    `internal error: ${err.message}\n` +
      'This is a bug in selfplay, not a problem with your input; please report it with the command you ran and the trace below.\n' +
      `${err.stack ?? err.message}\n`,
  );
  return 70;
}

/** Runs the CLI; returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  // --debug, anywhere on the line: user errors also print their stack trace
  const debug = argv.includes('--debug');
  try {
    await program().parseAsync(argv.filter((a) => a !== '--debug'));
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return COMMANDER_DONE.has(e.code) ? e.exitCode : reportError(flagError(e), debug);
    return reportError(e, debug);
  }
}
