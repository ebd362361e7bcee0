/**
 * The tokenizer and chat template of an HF model folder, as real folders carry them:
 * `tokenizer.json` (run by @huggingface/tokenizers), `tokenizer_config.json` (special tokens, `chat_template` as a
 * string or a list of named templates), `chat_template.jinja` (takes precedence, as in transformers), and
 * `generation_config.json` (`eos_token_id`, one id or a list). Templates are rendered with @huggingface/jinja.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Template } from '@huggingface/jinja';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { InputError, ModelFormatError } from '../errors.ts';
import { oneLine } from '../util/brief.ts';

/** One chat turn as chat templates expect it. */
export interface ChatMessage {
  role: string;
  content: string;
}

export interface EncodeOptions {
  /** Run the tokenizer's post-processor (e.g. Llama's BOS). Default true, as in HF; pass false for rendered chats. */
  addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /** Drop special tokens (BOS, EOS, `<|im_start|>`...) from the text. Default false. */
  skipSpecialTokens?: boolean;
}

export interface ChatTemplateOptions {
  /** Append the opening of an assistant turn so the model continues as the assistant. */
  addGenerationPrompt: boolean;
  /** Which named template to use when the folder has several (default: "default", else the first). */
  templateName?: string;
}

/** A chat template and the file it came from (named in errors). */
interface TemplateSource {
  text: string;
  file: string;
}

/** The special-token strings of tokenizer_config.json, as passed to chat templates. */
interface SpecialTokens {
  bos?: string;
  eos?: string;
  pad?: string;
  unk?: string;
}

/** A loaded tokenizer: encode/decode, special ids and the chat template. */
export class Tokenizer {
  /** One more than the largest token id (the embedding needs at least this many rows). */
  readonly vocabSize: number;
  readonly bosId?: number;
  /** Every id that ends generation: tokenizer_config's eos_token first, then generation_config's eos_token_id. */
  readonly eosIds: number[];
  readonly padId?: number;
  /** Named chat templates (`default` when the folder has a single one). */
  readonly chatTemplates: ReadonlyMap<string, TemplateSource>;
  private readonly compiled = new Map<string, Template>();

  constructor(
    readonly dir: string,
    private readonly hf: HfTokenizer,
    private readonly special: SpecialTokens,
    ids: { bosId?: number; eosIds: number[]; padId?: number },
    chatTemplates: Map<string, TemplateSource>,
  ) {
    let maxId = -1;
    for (const id of hf.get_vocab(true).values()) maxId = Math.max(maxId, id);
    this.vocabSize = maxId + 1;
    if (ids.bosId !== undefined) this.bosId = ids.bosId;
    if (ids.padId !== undefined) this.padId = ids.padId;
    this.eosIds = ids.eosIds;
    this.chatTemplates = chatTemplates;
  }

  encode(text: string, opts: EncodeOptions = {}): number[] {
    return this.hf.encode(text, { add_special_tokens: opts.addSpecialTokens ?? true }).ids;
  }

  /** Decodes ids exactly (no clean-up of spaces); an id outside the vocabulary is an InputError naming it. */
  decode(ids: readonly number[], opts: DecodeOptions = {}): string {
    if (ids.length === 0) return '';
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || this.hf.id_to_token(id) === undefined) {
        throw new InputError(`decode: token id ${id} is not in the vocabulary of ${this.dir} (size ${this.vocabSize})`);
      }
    }
    return this.hf.decode([...ids], {
      skip_special_tokens: opts.skipSpecialTokens ?? false,
      clean_up_tokenization_spaces: false,
    });
  }

  /** The id of one vocabulary entry (including added/special tokens), or undefined. */
  tokenToId(token: string): number | undefined {
    return this.hf.token_to_id(token);
  }

  idToToken(id: number): string | undefined {
    return this.hf.id_to_token(id);
  }

  /**
   * Renders `messages` with the folder's chat template. The template sees `messages`, `add_generation_prompt`,
   * `bos_token`, `eos_token`, `pad_token`, `unk_token` and jinja's `raise_exception`. A missing template, one that
   * does not parse, or one that throws is a ModelFormatError naming the template's file and jinja's message.
   */
  applyChatTemplate(messages: readonly ChatMessage[], opts: ChatTemplateOptions): string {
    const { name, source } = this.pickTemplate(opts.templateName);
    const template = this.compile(name, source);
    try {
      return template.render({
        messages: messages.map((m) => ({ ...m })),
        add_generation_prompt: opts.addGenerationPrompt,
        bos_token: this.special.bos ?? '',
        eos_token: this.special.eos ?? '',
        pad_token: this.special.pad ?? '',
        unk_token: this.special.unk ?? '',
      });
    } catch (e) {
      throw templateError(name, source, e);
    }
  }

  /**
   * Throws the error a chat needs when the folder has no chat template (it names the file and the way out), or when
   * its template does not parse; run at load, so a server or a run does not start with a template it cannot use.
   */
  requireChatTemplate(): void {
    if (this.chatTemplates.size === 0) throw noChatTemplateError(this.dir);
    const { name, source } = this.pickTemplate();
    this.compile(name, source);
  }

  private compile(name: string, source: TemplateSource): Template {
    let template = this.compiled.get(name);
    if (!template) {
      template = parseTemplate(name, source);
      this.compiled.set(name, template);
    }
    return template;
  }

  private pickTemplate(wanted?: string): { name: string; source: TemplateSource } {
    if (this.chatTemplates.size === 0) throw noChatTemplateError(this.dir);
    const names = [...this.chatTemplates.keys()];
    const name = wanted ?? (this.chatTemplates.has('default') ? 'default' : names[0]);
    const source = this.chatTemplates.get(name);
    if (!source) {
      throw new InputError(`chat template "${name}" not found in ${this.dir}; it has: ${names.join(', ')}`);
    }
    return { name, source };
  }
}

function templateError(name: string, source: TemplateSource, e: unknown): ModelFormatError {
  const what = name === 'default' ? 'chat_template' : `chat_template "${name}"`;
  return new ModelFormatError(`${source.file}: ${what}: ${(e as Error).message}`);
}

function parseTemplate(name: string, source: TemplateSource): Template {
  try {
    return new Template(source.text);
  } catch (e) {
    throw templateError(name, source, e);
  }
}

/** The one error for a folder without a chat template: names the file and the way out. */
export function noChatTemplateError(dir: string): ModelFormatError {
  return new ModelFormatError(
    `${path.join(dir, 'tokenizer_config.json')}: no chat_template (and no chat_template.jinja beside it); ` +
      "give the model's chat template with --chat-template FILE (a Jinja file, e.g. from the model's original repository)",
  );
}

/** Without building the tokenizer: throws what a chat load would about a missing or unparsable template (for preflights). */
export function checkChatTemplateAvailable(dir: string, chatTemplateFile?: string): void {
  const cfgFile = path.join(dir, 'tokenizer_config.json');
  const templates = chatTemplateFile !== undefined ? chatTemplateOverride(chatTemplateFile) : readChatTemplates(dir, readJson(cfgFile, false) ?? {}, cfgFile);
  if (templates.size === 0) throw noChatTemplateError(dir);
  for (const [name, source] of templates) parseTemplate(name, source);
}

function readJson(file: string, required: boolean): Record<string, unknown> | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (!required && code === 'ENOENT') return undefined;
    throw new ModelFormatError(`${file}: cannot read (${code ?? (e as Error).message})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ModelFormatError(`${file}: invalid JSON (${oneLine((e as Error).message)})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new ModelFormatError(`${file}: not a JSON object`);
  }
  return json as Record<string, unknown>;
}

/** A special token in tokenizer_config.json: a string, or an AddedToken object `{content: "<s>", ...}`, or null. */
function specialToken(cfg: Record<string, unknown>, field: string, file: string): string | undefined {
  const v = cfg[field];
  if (v == null) return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') {
    return (v as { content: string }).content;
  }
  throw new ModelFormatError(`${file}: field \`${field}\`: must be a token string, got ${JSON.stringify(v)}`);
}

function idOf(hf: HfTokenizer, token: string | undefined, field: string, file: string): number | undefined {
  if (token === undefined) return undefined;
  const id = hf.token_to_id(token);
  if (id === undefined) {
    throw new ModelFormatError(`${file}: field \`${field}\`: token ${JSON.stringify(token)} is not in tokenizer.json`);
  }
  return id;
}

/** `chat_template.jinja` first (as transformers does), else tokenizer_config's string or list of named templates. */
function readChatTemplates(dir: string, cfg: Record<string, unknown>, cfgFile: string): Map<string, TemplateSource> {
  const templates = new Map<string, TemplateSource>();
  const jinjaFile = path.join(dir, 'chat_template.jinja');
  if (fs.existsSync(jinjaFile)) {
    templates.set('default', { text: fs.readFileSync(jinjaFile, 'utf8'), file: jinjaFile });
  }
  const raw = cfg.chat_template;
  if (raw == null) return templates;
  const bad = () =>
    new ModelFormatError(`${cfgFile}: field \`chat_template\`: must be a string or a list of {name, template}`);
  if (typeof raw === 'string') {
    if (!templates.has('default')) templates.set('default', { text: raw, file: cfgFile });
    return templates;
  }
  if (!Array.isArray(raw)) throw bad();
  for (const entry of raw) {
    const { name, template } = (entry ?? {}) as { name?: unknown; template?: unknown };
    if (typeof name !== 'string' || typeof template !== 'string') throw bad();
    if (!templates.has(name)) templates.set(name, { text: template, file: cfgFile });
  }
  return templates;
}

function generationEosIds(gen: Record<string, unknown> | undefined, file: string): number[] {
  const v = gen?.eos_token_id;
  if (v == null) return [];
  const list = Array.isArray(v) ? v : [v];
  if (!list.every((x) => Number.isInteger(x) && (x as number) >= 0)) {
    throw new ModelFormatError(`${file}: field \`eos_token_id\`: must be a token id or a list of token ids`);
  }
  return list as number[];
}

function buildHfTokenizer(json: Record<string, unknown>, cfg: Record<string, unknown>, file: string): HfTokenizer {
  // tokenizer.json files written by older `tokenizers` versions may omit these keys; the JS library requires them.
  const withDefaults: Record<string, unknown> = { added_tokens: [], normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null, ...json };
  if (typeof withDefaults.model !== 'object' || withDefaults.model === null) {
    throw new ModelFormatError(`${file}: missing field \`model\``);
  }
  try {
    return new HfTokenizer(withDefaults, cfg);
  } catch (e) {
    throw new ModelFormatError(`${file}: cannot build the tokenizer (${(e as Error).message})`);
  }
}

export interface LoadTokenizerOptions {
  /** A Jinja chat template file used instead of the folder's own (`--chat-template FILE`). */
  chatTemplateFile?: string;
}

/** The template of `--chat-template FILE`, which replaces every template of the folder. */
function chatTemplateOverride(file: string): Map<string, TemplateSource> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new InputError(`--chat-template ${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (text.trim() === '') throw new InputError(`--chat-template ${file}: the file is empty`);
  return new Map([['default', { text, file }]]);
}

/** Loads the tokenizer files of an HF model folder; tokenizer.json is required, the others are optional. */
export function loadTokenizer(dir: string, opts: LoadTokenizerOptions = {}): Tokenizer {
  const tokFile = path.join(dir, 'tokenizer.json');
  const cfgFile = path.join(dir, 'tokenizer_config.json');
  const genFile = path.join(dir, 'generation_config.json');
  const json = readJson(tokFile, true)!;
  const cfg = readJson(cfgFile, false) ?? {};
  const gen = readJson(genFile, false);
  const hf = buildHfTokenizer(json, cfg, tokFile);
  const special: SpecialTokens = {
    bos: specialToken(cfg, 'bos_token', cfgFile),
    eos: specialToken(cfg, 'eos_token', cfgFile),
    pad: specialToken(cfg, 'pad_token', cfgFile),
    unk: specialToken(cfg, 'unk_token', cfgFile),
  };
  const eosIds: number[] = [];
  const eosId = idOf(hf, special.eos, 'eos_token', cfgFile);
  if (eosId !== undefined) eosIds.push(eosId);
  for (const id of generationEosIds(gen, genFile)) if (!eosIds.includes(id)) eosIds.push(id);
  const ids = {
    bosId: idOf(hf, special.bos, 'bos_token', cfgFile),
    eosIds,
    padId: idOf(hf, special.pad, 'pad_token', cfgFile),
  };
  const templates = opts.chatTemplateFile !== undefined ? chatTemplateOverride(opts.chatTemplateFile) : readChatTemplates(dir, cfg, cfgFile);
  return new Tokenizer(dir, hf, special, ids, templates);
}
