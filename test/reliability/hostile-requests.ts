/**
 * Malformed requests to `selfplay serve` (models/default: context 1024), each with the status it must get and a
 * pattern its error message must match: the message starts with the field (or header, path) at fault.
 */

export interface Hostile {
  name: string;
  method?: string;
  /** Relative to the server's /v1/ (default chat/completions). */
  path?: string;
  /** Default: content-type application/json. */
  headers?: Record<string, string | number>;
  body?: string | Buffer;
  status: number;
  names: RegExp;
}

const user = (content: unknown) => [{ role: 'user', content }];
const withField = (field: string, value: string) => `{"messages": [{"role": "user", "content": "hi"}], "${field}": ${value}}`;

/** A field set to a raw JSON value (so 1e999 and 2^53 + 1 reach the server as written). */
function fieldCases(): Hostile[] {
  const bad: [string, string][] = [
    ['temperature', '"hot"'], ['temperature', '-1'], ['temperature', '3'], ['temperature', '1e999'], ['temperature', 'true'],
    ['temperature', '[]'], ['temperature', '{}'],
    ['top_p', '0'], ['top_p', '1.5'], ['top_p', '-1e999'], ['top_p', '"1"'],
    ['max_tokens', '0'], ['max_tokens', '-5'], ['max_tokens', '1.5'], ['max_tokens', '"10"'], ['max_tokens', '1e999'],
    ['max_completion_tokens', '0'], ['max_completion_tokens', '1e400'],
    ['seed', '9007199254740993'], ['seed', '-9007199254740993'], ['seed', '1.5'], ['seed', '"abc"'], ['seed', '1e999'],
    ['n', '0'], ['n', '17'], ['n', '2.5'], ['n', '1e999'], ['n', '"2"'],
    ['stop', '5'], ['stop', '["a", "b", "c", "d", "e"]'], ['stop', '[""]'], ['stop', '[1]'], ['stop', '{}'],
    ['stream', '"yes"'], ['stream', '1'],
  ];
  return bad.map(([field, value]) => ({ name: `${field}: ${value}`, body: withField(field, value), status: 400, names: new RegExp(`^${field}: `) }));
}

/** Broken `messages`. */
function messageCases(): Hostile[] {
  const bad: [string, unknown, string][] = [
    ['no messages', {}, 'messages'],
    ['messages a string', { messages: 'hello' }, 'messages'],
    ['messages empty', { messages: [] }, 'messages'],
    ['message null', { messages: [null] }, 'messages\\[0\\]'],
    ['message a number', { messages: [1] }, 'messages\\[0\\]'],
    ['role missing', { messages: [{ content: 'x' }] }, 'messages\\[0\\]\\.role'],
    ['role unknown', { messages: [{ role: 'robot', content: 'x' }] }, 'messages\\[0\\]\\.role'],
    ['role an object', { messages: [{ role: { a: 1 }, content: 'x' }] }, 'messages\\[0\\]\\.role'],
    ['second role bad', { messages: [{ role: 'user', content: 'x' }, { role: 5, content: 'y' }] }, 'messages\\[1\\]\\.role'],
    ['content missing', { messages: [{ role: 'user' }] }, 'messages\\[0\\]\\.content'],
    ['content a number', { messages: user(5) }, 'messages\\[0\\]\\.content'],
    ['content an image part', { messages: user([{ type: 'image_url', image_url: { url: 'x' } }]) }, 'messages\\[0\\]\\.content\\[0\\]'],
    ['content part null', { messages: user([null]) }, 'messages\\[0\\]\\.content\\[0\\]'],
    ['content part text a number', { messages: user([{ type: 'text', text: 5 }]) }, 'messages\\[0\\]\\.content\\[0\\]'],
    ['text too long for the context', { messages: user('z'.repeat(1_500_000)) }, 'messages'],
    ['many empty messages', { messages: Array.from({ length: 20_000 }, () => ({ role: 'user', content: '' })) }, 'messages'],
    ['prompt of 1,100 tokens', { messages: user('1 2 3 4 5 6 7 8 9 '.repeat(70)) }, 'messages'],
    ['other model', { model: 'gpt-4', messages: user('x') }, 'model'],
  ];
  const nested = `{"messages": [{"role": "user", "content": ${'['.repeat(50_000)}${']'.repeat(50_000)}}]}`; // too deep for JSON.stringify
  return [
    ...bad.map(([name, body, field]) => ({ name, body: JSON.stringify(body), status: name === 'other model' ? 404 : 400, names: new RegExp(`^${field}: `) })),
    { name: 'content deeply nested', body: nested, status: 400, names: /^messages\[0\]\.content\[0\]: / },
  ];
}

/** Bodies that are not a JSON object, wrong content types, sizes, paths and methods. */
function envelopeCases(): Hostile[] {
  const body = (name: string, b: string | Buffer): Hostile => ({ name, body: b, status: 400, names: /^body: / });
  const typed = (type: string | undefined): Hostile => ({
    name: `content-type ${type ?? 'missing'}`,
    headers: type === undefined ? {} : { 'content-type': type },
    body: JSON.stringify({ messages: user('hi') }),
    status: 415,
    names: /^content-type: must be application\/json/,
  });
  const big = Buffer.alloc(5_000_000, 'a');
  return [
    body('invalid JSON', '{"messages": ['), body('empty body', ''), body('null', 'null'), body('a list', '[]'),
    body('a string', '"hello"'), body('a number', '123'), body('byte-order mark', `\uFEFF${JSON.stringify({ messages: user('hi') })}`),
    body('invalid UTF-8', Buffer.from([0x7b, 0xff, 0xfe, 0x7d])), body('deeply nested list', `${'['.repeat(100_000)}${']'.repeat(100_000)}`),
    typed(undefined), typed('text/plain'), typed('multipart/form-data; boundary=x'), typed('application/json; charset=latin1'),
    typed('application/x-www-form-urlencoded'),
    { name: '5 MB body', headers: { 'content-type': 'application/json', 'content-length': big.length }, body: big, status: 413, names: /^body: Content-Length/ },
    { name: '5 MB chunked body', headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' }, body: big, status: 413, names: /^body: / },
    { name: 'GET completions', method: 'GET', status: 405, names: /^GET \/v1\/chat\/completions: use POST/ },
    { name: 'DELETE models', method: 'DELETE', path: 'models', status: 405, names: /^DELETE \/v1\/models: use GET/ },
    { name: 'unknown path', path: 'completions', body: '{}', status: 404, names: /^POST \/v1\/completions: not found/ },
  ];
}

export function hostileRequests(): Hostile[] {
  return [...envelopeCases(), ...fieldCases(), ...messageCases()];
}
