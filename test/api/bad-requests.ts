/**
 * A deterministic generator of requests the producer API must refuse, per route. Body mutations are
 * derived from the contract's JSON Schemas (the start request's and the update's, both generated from
 * the zod contract): per field, values of every wrong type, numbers out of range, strings over their
 * length or against their pattern, bad enum values, unknown and missing fields, deep nesting; then the
 * contract's cross-field rules, malformed JSON, non-UTF-8 bytes, wrong content types and charsets. Path
 * ids, list queries and headers come from fixed lists of what breaks parsers: digits, `NaN`, dot
 * segments, malformed and overlong percent-encodings, ids past every length limit.
 */
import {
  startRecordingRequestJsonSchema,
  UID_LIST_MAX,
  UpdateRecordingRequestSchema,
} from '@recfleet/contract';
import { z } from 'zod';
import type { RawRequest } from './raw-http.js';

export interface BadRequest {
  /** The route it is sent to, e.g. `POST /v1/recordings`. */
  route: string;
  /** What is wrong with it, for failure messages. */
  what: string;
  request: RawRequest;
  /** The field a 400 must name: the problem's field is this or one inside it. */
  field?: string;
}

interface JsonSchema {
  type?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean;
  minimum?: number;
  maximum?: number;
  maxLength?: number;
  pattern?: string;
  enum?: unknown[];
  items?: JsonSchema;
  maxItems?: number;
  format?: string;
  anyOf?: JsonSchema[];
}

/** A JSON text spliced into a body as it is (numbers JSON.stringify cannot write, raw keys, bytes). */
class Raw {
  constructor(readonly bytes: Buffer) {}
}
const raw = (text: string | Buffer): Raw => new Raw(typeof text === 'string' ? Buffer.from(text) : text);

/** A body with Raw parts spliced in where they stand. */
function bodyOf(value: unknown): Buffer {
  const parts: Raw[] = [];
  const text = JSON.stringify(value, (_key, v: unknown) => {
    if (!(v instanceof Raw)) return v;
    parts.push(v);
    return `\u0001raw${parts.length - 1}\u0001`;
  });
  const pieces = text.split(/"\\u0001raw(\d+)\\u0001"/);
  return Buffer.concat(
    pieces.map((piece, i) => (i % 2 === 1 ? parts[Number(piece)]!.bytes : Buffer.from(piece, 'utf8'))),
  );
}

function withValue(base: unknown, path: readonly string[], value: unknown | typeof REMOVE): unknown {
  const copy = structuredClone(base) as Record<string, unknown>;
  let node = copy;
  for (const key of path.slice(0, -1)) {
    if (typeof node[key] !== 'object' || node[key] === null) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  const last = path.at(-1)!;
  if (value === REMOVE) delete node[last];
  else node[last] = value;
  return copy;
}
const REMOVE = Symbol('remove');

function nested(depth: number, leaf: unknown = 1): unknown {
  let v = leaf;
  for (let i = 0; i < depth; i++) v = { a: v };
  return v;
}

/** Strings that break a pattern, tried against each field's own pattern (only the ones it refuses). */
const PATTERN_BREAKERS = [
  '',
  ' ',
  '0',
  '123',
  '4294967296',
  '-lead',
  '_lead',
  'a b',
  'a/b',
  '../up',
  '..',
  'a\u0000b',
  'tab\tx',
  'new\nline',
  'é',
  '💥',
  '%ff',
  'UPPER',
  'a:b',
  'a{b}',
  'x'.repeat(65),
  'x'.repeat(600),
  'ftp://x.example/',
  'javascript:alert(1)',
  '//no-scheme',
];

function wrongTypes(type: string | undefined): unknown[] {
  const all: Record<string, unknown[]> = {
    string: [0, 123, -1, true, null, [], {}, ['x'], nested(3)],
    number: ['1', 'abc', '', true, null, [], {}, [1], nested(3)],
    integer: ['1', 'abc', '', true, null, [], {}, [1], nested(3)],
    object: ['x', 1, true, null, [], [{}]],
    array: ['1,2', 1, true, null, {}, { 0: 1 }],
  };
  return all[type ?? ''] ?? [];
}

interface Mutation {
  path: string[];
  value: unknown;
  what: string;
  /** The field the refusal names (default: the path). */
  field?: string;
}

function describe(v: unknown): string {
  if (v instanceof Raw) return `raw ${JSON.stringify(v.bytes.toString('latin1').slice(0, 30))}`;
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 40 ? `${s.slice(0, 37)}…(${s.length})` : s;
}

/** Every mutation of one field that its schema refuses. */
function fieldMutations(schema: JsonSchema, path: string[]): Mutation[] {
  const out: Mutation[] = [];
  const at = path.join('.');
  const add = (value: unknown, what: string, field = at): void => {
    out.push({ path, value, what: `${at}: ${what} ${describe(value)}`, field });
  };
  const s = schema.anyOf?.find((x) => x.type !== 'null') ?? schema;
  for (const v of wrongTypes(s.type)) if (!(v === null && schema.anyOf)) add(v, `wrong type`);
  if (s.type === 'number' || s.type === 'integer') {
    if (s.minimum !== undefined) {
      add(s.minimum - 1, 'below the minimum');
      add(s.minimum - 0.5, 'below the minimum');
      add(-1e9, 'far below the minimum');
    }
    if (s.maximum !== undefined) {
      add(s.maximum + 1, 'above the maximum');
      add(s.maximum + 0.5, 'above the maximum');
    }
    if (s.type === 'integer' && s.minimum !== undefined) add(s.minimum + 0.5, 'not an integer');
    add(raw('1e309'), 'a number JSON reads as Infinity');
    add(raw('-1e309'), 'a number JSON reads as -Infinity');
    if ((s.minimum ?? 0) > 0) add(raw('-0'), 'minus zero');
  }
  if (s.type === 'string') {
    if (s.maxLength !== undefined) add('a'.repeat(s.maxLength + 1), 'longer than its maximum');
    if (s.enum) {
      add('bogus', 'not one of its values');
      add(String(s.enum[0]).toUpperCase() + '_', 'not one of its values');
    }
    if (s.pattern) {
      const re = new RegExp(s.pattern);
      for (const b of PATTERN_BREAKERS) if (!re.test(b)) add(b, 'against its pattern');
    }
    if (s.format === 'uri') {
      add('http://', 'not an absolute URL');
      add('http://:80/x', 'not an absolute URL');
    }
  }
  if (s.type === 'array') {
    if (s.maxItems !== undefined) {
      add(
        Array.from({ length: s.maxItems + 1 }, (_, i) => i + 1),
        'more items than allowed',
      );
    }
    add([1, 1], 'a value twice');
    if (s.items) {
      for (const m of fieldMutations(s.items, [...path, '0'])) {
        add([m.value], `an item: ${m.what}`, m.field);
      }
    }
  }
  if (s.type === 'object' && s.properties) {
    for (const [key, prop] of Object.entries(s.properties)) out.push(...fieldMutations(prop, [...path, key]));
    if (s.additionalProperties === false) {
      out.push({
        path: [...path, 'bogusField'],
        value: 1,
        what: `${at}: an unknown field`,
        field: [...path, 'bogusField'].join('.'),
      });
      out.push({
        path: [...path, 'SEGMENTSECONDS'],
        value: 1,
        what: `${at}: an unknown field`,
        field: [...path, 'SEGMENTSECONDS'].join('.'),
      });
    }
    for (const key of s.required ?? []) {
      out.push({
        path: [...path, key],
        value: REMOVE,
        what: `${at}: ${key} missing`,
        field: [...path, key].join('.'),
      });
    }
    add(nested(500), 'nested 500 deep');
  }
  return out;
}

const JSON_HEADERS = { 'content-type': 'application/json' };

function bodyRequest(
  method: string,
  target: string,
  body: Buffer,
  headers: Record<string, string>,
  key: string,
): RawRequest {
  return { method, target, headers: { authorization: `Bearer ${key}`, ...headers }, body };
}

/** Whole-body refusals any JSON route gives: not an object, not JSON, not UTF-8, not JSON at all. */
function wholeBodyCases(
  route: string,
  method: string,
  target: string,
  key: string,
  valid: unknown,
  types: string[],
): BadRequest[] {
  const cases: BadRequest[] = [];
  const add = (
    what: string,
    body: Buffer,
    headers: Record<string, string> = JSON_HEADERS,
    field?: string,
  ): void => {
    cases.push({
      route,
      what,
      request: bodyRequest(method, target, body, headers, key),
      ...(field ? { field } : {}),
    });
  };
  const text = JSON.stringify(valid);
  for (const t of [
    '[]',
    '[{}]',
    '"x"',
    '1',
    '0',
    '-1',
    'true',
    'false',
    'null',
    '""',
    JSON.stringify([valid]),
  ]) {
    add(`a JSON body that is not an object: ${t.slice(0, 30)}`, Buffer.from(t));
  }
  for (const t of [
    '{',
    '}',
    '{"a":}',
    "{'a':1}",
    '{"a":1,}',
    'NaN',
    '{"uid":NaN}',
    '{"uid":Infinity}',
    '{"a":1}{"b":2}',
    'undefined',
    '[1,]',
    '{"a":"\\x"}',
    '{"a":"\\ud800"x}',
    '\u0000',
    text.slice(0, -1),
    `${text}x`,
    `// c\n${text}`,
  ]) {
    add(`not JSON: ${JSON.stringify(t.slice(0, 30))}`, Buffer.from(t), JSON_HEADERS, '(body)');
  }
  add('an empty body with a JSON content type', Buffer.alloc(0));
  add('a __proto__ key', Buffer.from(`{"__proto__":{"polluted":1},${text.slice(1)}`), JSON_HEADERS, '(body)');
  add(
    'a constructor.prototype key',
    Buffer.from(`{"constructor":{"prototype":{"x":1}},${text.slice(1)}`),
    JSON_HEADERS,
    '(body)',
  );
  add('an array nested 20000 deep', Buffer.from('['.repeat(20000) + ']'.repeat(20000)));
  add('an object nested 5000 deep', Buffer.from('{"a":'.repeat(5000) + '1' + '}'.repeat(5000)));
  add(
    'a body over the size limit',
    Buffer.from(JSON.stringify({ ...(valid as object), token: 'x'.repeat(70_000) })),
  );
  add('a body of one huge string', Buffer.from(JSON.stringify('y'.repeat(40_000))));
  // Bytes that are not UTF-8 inside a string the contract would accept as text (the token or a uid list's neighbour).
  for (const bytes of [[0xff], [0xfe, 0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0x80]]) {
    const body = Buffer.concat([
      Buffer.from(`{"token":"a`),
      Buffer.from(bytes),
      Buffer.from(`b",${text.slice(1)}`),
    ]);
    add(
      `bytes that are not UTF-8 (${bytes.map((b) => b.toString(16)).join(' ')})`,
      body,
      JSON_HEADERS,
      '(body)',
    );
  }
  add('a UTF-16 body', Buffer.from(text, 'utf16le'), JSON_HEADERS, '(body)');
  add('a gzip content-encoding that is not gzip', Buffer.from('\x1f\x8b garbage'), {
    ...JSON_HEADERS,
    'content-encoding': 'gzip',
  });
  for (const ct of [
    'text/plain',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x',
    'application/xml',
    'text/json',
    'application/octet-stream',
    'image/png',
    '*/*',
    'application',
    ';;',
    'application/json-patch+json',
  ]) {
    add(`content type ${ct}`, Buffer.from(text), { 'content-type': ct });
  }
  for (const ct of [
    'application/json; charset=latin1',
    'application/json; charset=utf-16',
    'application/json; charset="iso-8859-1"',
  ]) {
    add(`content type ${ct}`, Buffer.from(text, 'latin1'), { 'content-type': ct }, 'content-type');
  }
  add('no content type', Buffer.from(text), {});
  add('an invalid content length', Buffer.from(text), { ...JSON_HEADERS, 'content-length': 'abc' });
  add('a negative content length', Buffer.from(text), { ...JSON_HEADERS, 'content-length': '-5' });
  for (const t of types)
    add(
      `content type ${t} with a body that is not JSON`,
      Buffer.from('a=1&b=2'),
      { 'content-type': t },
      '(body)',
    );
  return cases;
}

/** Authorization headers that are refused (401) on every route but /healthz. */
export const BAD_AUTHORIZATIONS: (Record<string, string> | undefined)[] = [
  undefined,
  { authorization: '' },
  { authorization: 'Bearer' },
  { authorization: 'Bearer ' },
  { authorization: 'Bearer wrong-key-0123456789' },
  { authorization: 'Basic YWRtaW46YWRtaW4=' },
  { authorization: `Bearer ${'k'.repeat(600)}` },
  { authorization: 'Bearer \u00ff\u00fe' },
  { authorization: 'bearer' },
  { authorization: 'Token abc' },
];

function authCases(route: string, method: string, target: string, body?: Buffer): BadRequest[] {
  return BAD_AUTHORIZATIONS.map((h, i) => ({
    route,
    what: `refused credentials #${i}`,
    request: {
      method,
      target,
      headers: { ...(body ? JSON_HEADERS : {}), ...(h ?? {}) },
      ...(body ? { body } : {}),
    },
  }));
}

/** Path ids that are no recording's, or no id at all: digits, number words, dot segments, encodings, lengths. */
export const BAD_IDS: string[] = [
  '123',
  '0',
  '00',
  '-1',
  '1e3',
  '0x10',
  '4294967296',
  '9'.repeat(30),
  'NaN',
  'Infinity',
  '-Infinity',
  'null',
  'undefined',
  'true',
  '..',
  '.',
  '...',
  '%2e%2e',
  '%2E%2E',
  '%2e',
  '..%2f..%2fetc%2fpasswd',
  '%2f',
  'a%2fb',
  '%ff',
  '%fe%ff',
  '%c0%af',
  '%c3%28',
  '%ed%a0%80',
  '%00',
  'a%00b',
  '%',
  '%zz',
  '%2',
  '%20',
  'a%20b',
  '+',
  'a+b',
  '%e2%80%ae',
  Buffer.from('é', 'utf8').toString('latin1'),
  '%c3%a9',
  Buffer.from('💥', 'utf8').toString('latin1'),
  '__proto__',
  'constructor',
  'toString',
  '-abc',
  '_abc',
  'a'.repeat(64),
  'a'.repeat(65),
  'a'.repeat(100),
  'a'.repeat(101),
  'a'.repeat(1000),
  'a'.repeat(8000),
  'a'.repeat(20_000),
  '*',
  'a;b',
  "a'b",
  'a"b',
  'a<b>',
  'a\\b',
];

/** Query suffixes sent with each bad id: none, empty, junk, a bad encoding, a long value. */
const ID_SUFFIXES = ['', '?', '?x=1&x=2', '?%ff=%ff', `?q=${'y'.repeat(2000)}`];

/** Bad values of one list parameter: each refused with the parameter named. */
function listQueryCases(key: string, listTarget: (q: string) => string, route: string): BadRequest[] {
  const cases: BadRequest[] = [];
  const values: [string, string][] = [];
  for (const s of [
    'bogus',
    '',
    'QUEUED',
    'queued,bogus',
    ',',
    'queued,,',
    '%ff',
    '%00',
    'queued%00',
    'null',
    '0',
    '*',
    'uploaded ',
    ' uploaded',
    'x'.repeat(3000),
    '%E2%80%AE',
  ]) {
    values.push(['state', s === '' || s.startsWith('%') ? s : encodeURIComponent(s)]);
  }
  for (const l of [
    '0',
    '-1',
    '501',
    '1000000',
    '1.5',
    '1e2',
    'abc',
    '',
    '%205',
    '0x10',
    'NaN',
    'Infinity',
    '%00',
    '5%00',
    '2%2C3',
  ]) {
    values.push(['limit', l]);
  }
  const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
  for (const c of [
    'x',
    '',
    'e30',
    b64([1]),
    b64(['a', 1]),
    b64({ a: 1 }),
    b64([null, 'a']),
    b64(['1', 'a']),
    '%ff',
    'a'.repeat(1000),
    b64([Number.MAX_VALUE * 10, 'a']),
  ]) {
    values.push(['cursor', c]);
  }
  const combos = ['', '&limit=5', '&channel=x', '&appId=a', '&state=queued', '&limit=5&channel=room%201'];
  for (const [param, value] of values) {
    for (const extra of combos) {
      if (extra.startsWith(`&${param}=`)) continue;
      cases.push({
        route,
        what: `${param}=${value.slice(0, 30)}${extra}`,
        request: {
          method: 'GET',
          target: listTarget(`${param}=${value}${extra}`),
          headers: { authorization: `Bearer ${key}` },
        },
        field: param,
      });
    }
  }
  for (const param of ['channel', 'appId', 'limit', 'cursor']) {
    const value = param === 'limit' ? '5' : param === 'cursor' ? b64([1, 'a']) : 'x';
    cases.push({
      route,
      what: `${param} given twice`,
      request: {
        method: 'GET',
        target: listTarget(`${param}=${value}&${param}=${value}`),
        headers: { authorization: `Bearer ${key}` },
      },
      field: param,
    });
  }
  for (const unknown of [
    'foo=1',
    'STATE=queued',
    'limit[]=5',
    'state[0]=queued',
    '%ff=1',
    'page=2',
    'offset=0',
    '__proto__=1',
    'constructor=x',
    'sort=desc',
  ]) {
    for (const extra of combos) {
      // A name that is not valid percent-encoding is kept as it is by the query parser.
      const key = unknown.split('=')[0]!;
      let name = key;
      try {
        name = decodeURIComponent(key);
      } catch {
        // kept
      }
      cases.push({
        route,
        what: `unknown parameter ${unknown}${extra}`,
        request: {
          method: 'GET',
          target: listTarget(`${unknown}${extra}`),
          headers: { authorization: `Bearer ${key}` },
        },
        field: name,
      });
    }
  }
  return cases;
}

export interface Fixture {
  key: string;
  /** A channel recording that runs (queued): updates of it are checked in full. */
  channelId: string;
  /** A recording that records one stream: an update of it is refused. */
  singleId: string;
  /** A recording that has ended: stop, cancel and update are refused. */
  endedId: string;
}

/** Every bad request, by route. */
export function badRequests(f: Fixture): BadRequest[] {
  const key = f.key;
  const auth = { authorization: `Bearer ${key}` };
  const cases: BadRequest[] = [];

  // POST /v1/recordings: mutations of two valid starts, a channel recording and a single stream.
  const start = 'POST /v1/recordings';
  const schema = startRecordingRequestJsonSchema() as JsonSchema;
  const channelStart = {
    appId: 'fuzz',
    channel: 'room 1',
    uid: 7,
    storage: { profile: 'local' },
    recordingConfig: { subscribeAudioUids: [1] },
  };
  const singleStart = {
    appId: 'fuzz',
    channel: 'room 1',
    uid: 8,
    sourceUrl: 'rtmp://127.0.0.1:1/fuzz/room',
    storage: { profile: 'local' },
  };
  for (const [name, base] of [
    ['channel', channelStart],
    ['single', singleStart],
  ] as const) {
    for (const m of fieldMutations(schema, [])) {
      if (m.path.length === 0) continue;
      // A single stream takes no channel-only field: those are mutated on the channel start only.
      if (name === 'single' && m.path[0] === 'recordingConfig' && /ubscribe|maxUsers/.test(m.path[1] ?? ''))
        continue;
      if (name === 'channel' && m.path[0] === 'sourceUrl') continue;
      cases.push({
        route: start,
        what: `${name} start, ${m.what}`,
        request: bodyRequest(
          'POST',
          '/v1/recordings',
          bodyOf(withValue(base, m.path, m.value)),
          JSON_HEADERS,
          key,
        ),
        field: m.field!,
      });
    }
  }
  const crossField: [string, unknown, string][] = [
    [
      'a single stream with maxUsers',
      withValue(singleStart, ['recordingConfig', 'maxUsers'], 2),
      'recordingConfig.maxUsers',
    ],
    [
      'a single stream with subscriptions',
      withValue(singleStart, ['recordingConfig', 'subscribeVideoUids'], [1]),
      'recordingConfig.subscribeVideoUids',
    ],
    [
      'subscribe and unsubscribe audio lists together',
      withValue(channelStart, ['recordingConfig', 'unsubscribeAudioUids'], [2]),
      'recordingConfig.unsubscribeAudioUids',
    ],
    [
      'a storage profile no worker has',
      withValue(singleStart, ['storage', 'profile'], 'nosuch'),
      'storage.profile',
    ],
    [
      'requestedAt, which the producer sets',
      withValue(singleStart, ['requestedAt'], Date.now()),
      'requestedAt',
    ],
    ['a recording id of digits', withValue(singleStart, ['recordingId'], '123'), 'recordingId'],
    ['the recording id 0', withValue(singleStart, ['recordingId'], '0'), 'recordingId'],
    ['a recording id over 2^32', withValue(singleStart, ['recordingId'], '4294967296'), 'recordingId'],
    [
      'a channel of 65 bytes in 33 characters',
      withValue(singleStart, ['channel'], 'a' + 'é'.repeat(32)),
      'channel',
    ],
    [
      'a source URL with an unknown scheme',
      withValue(singleStart, ['sourceUrl'], 'gopher://x/y'),
      'sourceUrl',
    ],
    [
      'a source URL in upper case letters of no scheme',
      withValue(singleStart, ['sourceUrl'], 'RTMPX://x/y'),
      'sourceUrl',
    ],
    [
      'a callback URL with an empty host',
      withValue(singleStart, ['callbackUrl'], 'http://:80/x'),
      'callbackUrl',
    ],
    [
      'a storage prefix with a dot segment',
      withValue(singleStart, ['storage', 'prefix'], 'a/../b'),
      'storage.prefix',
    ],
    [
      'a storage prefix that is only a dot',
      withValue(singleStart, ['storage', 'prefix'], '.'),
      'storage.prefix',
    ],
    [
      'a uid list of one uid twice',
      withValue(channelStart, ['recordingConfig', 'subscribeAudioUids'], [3, 3]),
      'recordingConfig.subscribeAudioUids',
    ],
  ];
  for (const [what, body, field] of crossField) {
    cases.push({
      route: start,
      what,
      request: bodyRequest('POST', '/v1/recordings', bodyOf(body), JSON_HEADERS, key),
      field,
    });
  }
  cases.push(
    ...wholeBodyCases(start, 'POST', '/v1/recordings', key, singleStart, ['application/merge-patch+json']),
  );
  cases.push(...authCases(start, 'POST', '/v1/recordings', bodyOf(singleStart)));

  // GET /v1/recordings
  const list = 'GET /v1/recordings';
  cases.push(...listQueryCases(key, (q) => `/v1/recordings?${q}`, list));
  cases.push(...authCases(list, 'GET', '/v1/recordings'));

  // The routes of one recording: every bad id, with each query suffix.
  const idRoutes: [string, string, (id: string) => string, Buffer | undefined][] = [
    ['GET /v1/recordings/:id', 'GET', (id) => `/v1/recordings/${id}`, undefined],
    [
      'PATCH /v1/recordings/:id',
      'PATCH',
      (id) => `/v1/recordings/${id}`,
      bodyOf({ subscribeAudioUids: [1] }),
    ],
    ['POST /v1/recordings/:id/stop', 'POST', (id) => `/v1/recordings/${id}/stop`, undefined],
    ['DELETE /v1/recordings/:id', 'DELETE', (id) => `/v1/recordings/${id}`, undefined],
    ['GET /v1/recordings/:id/events', 'GET', (id) => `/v1/recordings/${id}/events`, undefined],
  ];
  for (const [route, method, target, body] of idRoutes) {
    for (const id of BAD_IDS) {
      for (const suffix of ID_SUFFIXES) {
        const path = target(id);
        const [p, q] = suffix === '' ? [path, ''] : [path, suffix];
        cases.push({
          route,
          what: `id ${JSON.stringify(id.slice(0, 30))}${id.length > 30 ? `…(${id.length})` : ''}${suffix.slice(0, 12)}`,
          request: {
            method,
            target: `${p}${q}`,
            headers: { ...auth, ...(body ? JSON_HEADERS : {}) },
            ...(body ? { body } : {}),
          },
        });
      }
    }
    cases.push(...authCases(route, method, target(f.channelId), body));
  }

  // PATCH: every refused update of the running channel recording, and any update of the others.
  const patch = 'PATCH /v1/recordings/:id';
  const updateSchema = z.toJSONSchema(UpdateRecordingRequestSchema, {
    io: 'input',
    unrepresentable: 'any',
  }) as JsonSchema;
  const validUpdate = { subscribeAudioUids: [1, 2] };
  for (const m of fieldMutations(updateSchema, [])) {
    if (m.path.length === 0) continue;
    cases.push({
      route: patch,
      what: `update: ${m.what}`,
      request: bodyRequest(
        'PATCH',
        `/v1/recordings/${f.channelId}`,
        bodyOf(withValue(validUpdate, m.path, m.value)),
        JSON_HEADERS,
        key,
      ),
      field: m.field!,
    });
  }
  for (const [what, body, field] of [
    ['an update that names no list', {}, '(update)'],
    [
      'subscribe and unsubscribe video together',
      { subscribeVideoUids: [1], unsubscribeVideoUids: [2] },
      'unsubscribeVideoUids',
    ],
    [
      `a list of ${UID_LIST_MAX + 1} uids`,
      { subscribeAudioUids: Array.from({ length: UID_LIST_MAX + 1 }, (_, i) => i + 1) },
      'subscribeAudioUids',
    ],
  ] as [string, unknown, string][]) {
    cases.push({
      route: patch,
      what,
      request: bodyRequest('PATCH', `/v1/recordings/${f.channelId}`, bodyOf(body), JSON_HEADERS, key),
      field,
    });
  }
  cases.push({
    route: patch,
    what: 'an update of a single-stream recording',
    request: bodyRequest('PATCH', `/v1/recordings/${f.singleId}`, bodyOf(validUpdate), JSON_HEADERS, key),
    field: 'id',
  });
  cases.push({
    route: patch,
    what: 'an update of an ended recording',
    request: bodyRequest('PATCH', `/v1/recordings/${f.endedId}`, bodyOf(validUpdate), JSON_HEADERS, key),
  });
  cases.push(
    ...wholeBodyCases(patch, 'PATCH', `/v1/recordings/${f.channelId}`, key, validUpdate, [
      'application/merge-patch+json',
    ]),
  );

  // Stop and cancel of an ended recording, and with bodies that are not JSON.
  for (const [route, method, suffix] of [
    ['POST /v1/recordings/:id/stop', 'POST', '/stop'],
    ['DELETE /v1/recordings/:id', 'DELETE', ''],
  ] as const) {
    cases.push({
      route,
      what: 'an ended recording',
      request: { method, target: `/v1/recordings/${f.endedId}${suffix}`, headers: auth },
    });
    for (const t of ['{', 'not json', '{"a":}']) {
      cases.push({
        route,
        what: `a body that is not JSON: ${t}`,
        request: bodyRequest(
          method,
          `/v1/recordings/${f.channelId}${suffix}`,
          Buffer.from(t),
          JSON_HEADERS,
          key,
        ),
        field: '(body)',
      });
    }
    cases.push({
      route,
      what: 'a text body',
      request: bodyRequest(
        method,
        `/v1/recordings/${f.channelId}${suffix}`,
        Buffer.from('stop'),
        { 'content-type': 'text/plain' },
        key,
      ),
    });
  }

  // Events: event ids that are not, as Last-Event-ID and as ?after=.
  const events = 'GET /v1/recordings/:id/events';
  const badEventIds = [
    'x',
    '',
    '1',
    '1-',
    '-1',
    '1-x',
    '1.5-0',
    '0x1-0',
    '1-0-0',
    'NaN-0',
    '%ff',
    '1-0;',
    `${'9'.repeat(40)}-0-`,
  ];
  for (const id of [f.channelId, f.endedId]) {
    // Headers are ASCII, and their surrounding spaces are not part of the value.
    for (const bad of badEventIds) {
      cases.push({
        route: events,
        what: `Last-Event-ID ${JSON.stringify(bad)}`,
        request: {
          method: 'GET',
          target: `/v1/recordings/${id}/events`,
          headers: { ...auth, 'last-event-id': bad },
        },
        field: 'Last-Event-ID',
      });
    }
    for (const bad of [...badEventIds, ' 1-0', '1-0 ', '1–0', '١-٠']) {
      cases.push({
        route: events,
        what: `?after=${bad}`,
        request: {
          method: 'GET',
          target: `/v1/recordings/${id}/events?after=${encodeURIComponent(bad)}`,
          headers: auth,
        },
        field: 'after',
      });
    }
  }

  // Anything else: wrong methods, unknown routes, headers too large, malformed HTTP.
  const other = 'other';
  for (const [method, target] of [
    ['PUT', '/v1/recordings'],
    ['DELETE', '/v1/recordings'],
    ['PUT', `/v1/recordings/${f.channelId}`],
    ['POST', `/v1/recordings/${f.channelId}`],
    ['GET', `/v1/recordings/${f.channelId}/stop`],
    ['POST', '/healthz'],
    ['POST', '/openapi.json'],
    ['GET', '/v2/recordings'],
    ['GET', '/v1/recording'],
    ['GET', '/v1//recordings'],
    ['GET', '/%ff'],
    ['GET', `/${'z'.repeat(9000)}`],
    ['OPTIONS', '/v1/recordings'],
    ['TRACE', '/v1/recordings'],
    ['GET', '*'],
  ] as const) {
    cases.push({
      route: other,
      what: `${method} ${target.slice(0, 40)}`,
      request: { method, target, headers: auth },
    });
  }
  cases.push({
    route: other,
    what: 'headers too large',
    request: { method: 'GET', target: '/v1/recordings', headers: { ...auth, 'x-junk': 'j'.repeat(20_000) } },
  });
  cases.push({
    route: other,
    what: 'a space in the target',
    request: { method: 'GET', target: '/v1/recordings/a b', headers: auth },
  });
  cases.push({
    route: other,
    what: 'a control byte in the target',
    request: { method: 'GET', target: '/v1/recordings/a\u0001b', headers: auth },
  });
  cases.push({
    route: other,
    what: 'an unknown method',
    request: { method: 'FROB', target: '/v1/recordings', headers: auth },
  });
  cases.push({
    route: other,
    what: 'a header without a colon',
    request: { method: 'GET', target: '/v1/recordings', headers: { ...auth, 'x-broken\r\nnocolon': 'x' } },
  });
  return cases;
}
