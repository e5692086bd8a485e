/**
 * The hub's HTTP, GraphQL and Socket.IO edges against hostile or unusual input, on real hubs:
 * stored files are served with the type sniffed at upload and in a sandbox, never as the HTML
 * or SVG their names suggest; UTF-8 file names survive, without control or bidirectional
 * characters; an early refusal of an upload reaches Node's fetch while it is still sending; a
 * malformed part header is BAD_MULTIPART; sockets without a valid token are refused at the
 * handshake; introspection is bounded and, in production, closed to anonymous callers;
 * `/metrics` can move to a port of its own behind a token; every answer has security headers.
 */
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { createClient } from 'graphql-ws';
import sharp from 'sharp';
import { io } from 'socket.io-client';
import WebSocket from 'ws';
import { bearer, gql, repoRoot, startHub, upload, uploadProcessed, type HubProcess } from './helpers/hub.ts';
import { seededRandom } from './helpers/random.ts';

const UPLOAD_MAX = 1024 * 1024;
const METRICS_TOKEN = 'metrics-token-for-the-scraper';
const BIG = 20 * 1024 * 1024;

let hub: HubProcess;
let production: HubProcess;

before(async () => {
  [hub, production] = await Promise.all([
    startHub({ seedOwner: true, env: { UPLOAD_MAX_BYTES: String(UPLOAD_MAX), NODE_ENV: 'development' } }),
    startHub({
      seedOwner: true,
      env: { NODE_ENV: 'production', METRICS_PORT: '0', METRICS_TOKEN, LOG_LEVEL: 'info' },
    }),
  ]);
});

after(async () => {
  await Promise.all([hub?.stop(), production?.stop()]);
});

/** Bytes no other upload in this run has, so that no upload is a duplicate of another. */
const unique = (() => {
  const random = seededRandom(8);
  return (text: string) => new TextEncoder().encode(`${text}\n${random().toString(36)} ${Date.now()}\n`);
})();

async function uploadedId(file: { name: string; data: Uint8Array; type?: string }): Promise<string> {
  const res = await hub.upload(file);
  assert.equal(res.status, 202, JSON.stringify(res.body));
  return res.body.documentId as string;
}

async function getFile(id: string, inline: boolean): Promise<Response> {
  return fetch(`${hub.url}/api/documents/${id}/file${inline ? '?inline' : ''}`, { headers: hub.ownerAuth });
}

describe('stored files', () => {
  test('a text file named like HTML, SVG or a batch file is served as plain text, sandboxed', async () => {
    const script = `<html><script>localStorage.setItem('pwned', '1')</script></html>`;
    for (const name of ['x.htm', 'x.html', 'x.svg', 'x.bat']) {
      const id = await uploadedId({ name, data: unique(script), type: 'text/html' });
      for (const inline of [false, true]) {
        const res = await getFile(id, inline);
        assert.equal(res.status, 200);
        assert.equal(res.headers.get('content-type'), 'text/plain; charset=utf-8', `${name} inline=${inline}`);
        assert.match(res.headers.get('content-disposition') ?? '', inline ? /^inline;/ : /^attachment;/);
        const csp = res.headers.get('content-security-policy') ?? '';
        assert.match(csp, /default-src 'none'/);
        assert.match(csp, /(^|; )sandbox($|;)/);
        assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
        assert.equal(res.headers.get('cross-origin-resource-policy'), 'same-origin');
        assert.match(await res.text(), /<script>/);
      }
    }
  });

  test('PDF, PNG and JPEG go inline when asked, TIFF never; all in the sandbox', async () => {
    const pixels = () => sharp({ create: { width: 8, height: 8, channels: 3, background: '#ffffff' } });
    const pdf = await readFile(join(repoRoot, 'test/fixtures/generated/text-report.pdf'));
    const files = [
      { name: 'report.pdf', data: pdf, type: 'application/pdf', inline: true },
      { name: 'dot.png', data: await pixels().png().toBuffer(), type: 'image/png', inline: true },
      { name: 'dot.jpg', data: await pixels().jpeg().toBuffer(), type: 'image/jpeg', inline: true },
      { name: 'dot.tiff', data: await pixels().tiff().toBuffer(), type: 'image/tiff', inline: false },
    ];
    for (const f of files) {
      const res = await hub.upload({ name: f.name, data: f.data, type: f.type });
      assert.ok(res.status === 202 || res.status === 200, JSON.stringify(res.body));
      const served = await getFile(res.body.documentId, true);
      assert.equal(served.headers.get('content-type'), f.type, f.name);
      assert.match(served.headers.get('content-disposition') ?? '', f.inline ? /^inline;/ : /^attachment;/, f.name);
      const csp = served.headers.get('content-security-policy') ?? '';
      assert.match(csp, /default-src 'none'/, f.name);
      assert.match(csp, /(^|; )sandbox($|;)/, f.name);
      await served.arrayBuffer();
    }
  });
});

describe('file names', () => {
  test('UTF-8 names from FormData are kept whole and sent back in filename*', async () => {
    const name = 'รายงาน ประจำปี 📄 résumé.txt';
    const id = await uploadedId({ name, data: unique('Thai and emoji') });
    const stored = await hub.gql(`query($id: ID!) { document(id: $id) { filename } }`, { id });
    assert.equal(stored.data.document.filename, name);
    const res = await getFile(id, false);
    await res.arrayBuffer();
    assert.ok(
      (res.headers.get('content-disposition') ?? '').includes(`filename*=UTF-8''${encodeURIComponent(name)}`),
      res.headers.get('content-disposition') ?? '',
    );
  });

  test('control and bidirectional formatting characters are stripped from stored and served names', async () => {
    const name = 'in\u0085voice\u009b\u202Efdp\u2066\u2069\u200e\u200f\u061c.exe.txt';
    const id = await uploadedId({ name, data: unique('bidi') });
    const stored = await hub.gql(`query($id: ID!) { document(id: $id) { filename } }`, { id });
    assert.equal(stored.data.document.filename, 'invoicefdp.exe.txt');
    const res = await getFile(id, false);
    await res.arrayBuffer();
    assert.equal(res.headers.get('content-disposition'), 'attachment; filename=invoicefdp.exe.txt');
  });

  test('a name stored raw, before names were cleaned, is cleaned by GraphQL and the file route', async (t) => {
    const raw = 'in\u0085voice\u202Efdp.exe.txt';
    let current = await startHub({ seedOwner: true });
    t.after(() => current.stop());
    const id = await uploadProcessed(current, { name: 'invoice.txt', data: unique('stored before names were cleaned') }, 60_000);
    // What an older hub wrote: the name as it came, put in place while the hub is stopped.
    await current.stop({ keepData: true });
    const sqlitePath = join(current.dataDir, 'quire.sqlite');
    const db = new Database(sqlitePath);
    try {
      assert.equal(db.prepare('UPDATE documents SET filename = ? WHERE id = ?').run(raw, id).changes, 1);
    } finally {
      db.close();
    }
    current = await startHub({ dataDir: current.dataDir, seedOwner: true });

    const stored = await current.gql(`query($id: ID!) { document(id: $id) { filename } documents { nodes { filename } } }`, { id });
    assert.equal(stored.errors, undefined, JSON.stringify(stored.errors));
    assert.equal(stored.data.document.filename, 'invoicefdp.exe.txt');
    assert.deepEqual(
      stored.data.documents.nodes.map((d: { filename: string }) => d.filename),
      ['invoicefdp.exe.txt'],
    );
    const res = await fetch(`${current.url}/api/documents/${id}/file`, { headers: current.ownerAuth });
    await res.arrayBuffer();
    assert.equal(res.headers.get('content-disposition'), 'attachment; filename=invoicefdp.exe.txt');
    // Cleaned on the way out: the stored name is still the raw one.
    const readOnly = new Database(sqlitePath, { readonly: true });
    try {
      assert.equal((readOnly.prepare('SELECT filename FROM documents WHERE id = ?').get(id) as { filename: string }).filename, raw);
    } finally {
      readOnly.close();
    }
  });

  test('a name longer than 255 characters is cut between characters, never inside an emoji', async () => {
    const id = await uploadedId({ name: `a${'📄'.repeat(300)}.txt`, data: unique('long name') });
    const stored: string = (await hub.gql(`query($id: ID!) { document(id: $id) { filename } }`, { id })).data.document.filename;
    assert.equal(Array.from(stored).length, 255);
    assert.equal(stored, `a${'📄'.repeat(254)}`);
  });
});

describe('early refusals reach Node’s fetch', () => {
  const big = () => new Uint8Array(BIG).fill(0x61);

  test('20 MB without a token: 401 with the JSON error', async () => {
    for (let i = 0; i < 3; i++) {
      const res = await upload(hub.url, { name: 'big.txt', data: big(), type: 'text/plain' });
      assert.equal(res.status, 401);
      assert.equal(res.body.error.code, 'UNAUTHENTICATED');
    }
  });

  test('20 MB over a 1 MB limit: 413 PAYLOAD_TOO_LARGE, with a length and streamed without one', async () => {
    for (let i = 0; i < 3; i++) {
      const res = await hub.upload({ name: 'big.txt', data: big(), type: 'text/plain' });
      assert.equal(res.status, 413);
      assert.equal(res.body.error.code, 'PAYLOAD_TOO_LARGE');
    }
    // Without Content-Length the limit is found while reading the file.
    const boundary = 'quire-streamed';
    const parts = async function* () {
      yield Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.txt"\r\nContent-Type: text/plain\r\n\r\n`,
      );
      for (let sent = 0; sent < BIG; sent += 64 * 1024) yield Buffer.alloc(64 * 1024, 0x61);
      yield Buffer.from(`\r\n--${boundary}--\r\n`);
    };
    const res = await fetch(`${hub.url}/api/documents`, {
      method: 'POST',
      headers: { ...hub.ownerAuth, 'content-type': `multipart/form-data; boundary=${boundary}` },
      body: Readable.toWeb(Readable.from(parts())) as ReadableStream,
      duplex: 'half',
    } as RequestInit);
    assert.equal(res.status, 413);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'PAYLOAD_TOO_LARGE');
  });
});

/** A multipart upload written by hand, so that its part header can hold what no client library writes. */
function rawUpload(url: string, headers: Record<string, string>, partHeader: string): Promise<{ status: number; body: any }> {
  const boundary = 'quire-raw';
  const body = Buffer.concat([
    Buffer.from(`--${boundary}\r\n`),
    Buffer.from(partHeader, 'utf8'),
    Buffer.from(`\r\nContent-Type: text/plain\r\n\r\nhello\r\n--${boundary}--\r\n`),
  ]);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${url}/api/documents`,
      {
        method: 'POST',
        headers: { ...headers, 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': String(body.length) },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('multipart', () => {
  test('a bare line feed or carriage return in the file name answers 400 BAD_MULTIPART', async () => {
    for (const cut of ['\n', '\r']) {
      const res = await rawUpload(hub.url, hub.ownerAuth, `Content-Disposition: form-data; name="file"; filename="a${cut}b.txt"`);
      assert.equal(res.status, 400, JSON.stringify(res.body));
      assert.equal(res.body.error.code, 'BAD_MULTIPART');
    }
    // The same upload with a proper name is accepted: the refusal is about the header only.
    const ok = await rawUpload(hub.url, hub.ownerAuth, `Content-Disposition: form-data; name="file"; filename="ab.txt"`);
    assert.ok(ok.status === 202 || ok.status === 200, JSON.stringify(ok.body));
  });
});

/** Connects to a namespace: null when connected, else the refusal's `data`. */
async function handshake(namespace: string, auth: Record<string, unknown>): Promise<{ code: string; message: string } | null> {
  const socket = io(hub.url + namespace, { transports: ['websocket'], auth, reconnection: false, forceNew: true });
  try {
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer to the handshake on ${namespace}`)), 10_000);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve(null);
      });
      socket.once('connect_error', (err: Error & { data?: { code: string; message: string } }) => {
        clearTimeout(timer);
        resolve(err.data ?? { code: 'NONE', message: err.message });
      });
    });
  } finally {
    socket.disconnect();
  }
}

describe('Socket.IO', () => {
  test('both namespaces refuse a handshake without a token or with a forged one, and accept a valid one', async () => {
    const forged = `${hub.ownerToken!.slice(0, -4)}AAAA`;
    for (const namespace of ['/', '/collab']) {
      assert.equal((await handshake(namespace, {}))?.code, 'UNAUTHENTICATED', namespace);
      // A signature that does not verify is the caller's fault, not the hub's: never INTERNAL.
      assert.deepEqual(
        await handshake(namespace, { token: forged }),
        { code: 'UNAUTHENTICATED', message: 'The access token is not valid' },
        namespace,
      );
      assert.equal(await handshake(namespace, { token: hub.ownerToken }), null, namespace);
    }
  });
});

/** The first error code of a GraphQL answer, or undefined. */
const codeOf = (res: { errors?: any[] }) => res.errors?.[0]?.extensions?.code as string | undefined;

/** Runs one query over graphql-ws: its first error code, or undefined. */
async function wsCode(url: string, query: string, token?: string): Promise<string | undefined> {
  const client = createClient({
    url: url.replace('http', 'ws') + '/graphql',
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    connectionParams: token ? { token } : {},
  });
  try {
    return await new Promise<string | undefined>((resolve, reject) => {
      client.subscribe(
        { query },
        {
          next: (msg) => resolve(msg.errors?.[0]?.extensions?.code as string | undefined),
          error: (err) => (Array.isArray(err) ? resolve(err[0]?.extensions?.code) : reject(err)),
          complete: () => resolve(undefined),
        },
      );
    });
  } finally {
    await client.dispose();
  }
}

describe('GraphQL introspection', () => {
  const schemaQuery = `{ __schema { queryType { name } } }`;
  const typeQuery = `{ __type(name: "Document") { name } }`;

  test('in development it is open to anyone, but not deeper than its own bound', async () => {
    assert.equal((await gql(hub.url, schemaQuery)).data?.__schema.queryType.name, 'Query');
    const deep = `{ __schema { types { ${'ofType { '.repeat(30)}name${' }'.repeat(30)} } } }`;
    for (const res of [await gql(hub.url, deep), await hub.gql(deep)]) assert.equal(codeOf(res), 'QUERY_TOO_COMPLEX');
    assert.equal(await wsCode(hub.url, deep, hub.ownerToken!), 'QUERY_TOO_COMPLEX');
  });

  test('in production only callers with a token may introspect, over HTTP and graphql-ws', async () => {
    for (const q of [schemaQuery, typeQuery]) {
      const anonymous = await gql(production.url, q);
      assert.equal(codeOf(anonymous), 'UNAUTHENTICATED', q);
      assert.equal(anonymous.data ?? null, null);
      assert.equal(codeOf(await gql(production.url, q, {}, { authorization: 'Bearer forged' })), 'UNAUTHENTICATED');
      assert.equal(codeOf(await production.gql(q)), undefined, q);
      assert.equal(await wsCode(production.url, q), 'UNAUTHENTICATED', q);
      assert.equal(await wsCode(production.url, q, production.ownerToken!), undefined, q);
    }
    // `__typename` describes nothing: still open.
    assert.equal((await gql(production.url, `{ __typename }`)).data?.__typename, 'Query');
  });
});

describe('metrics', () => {
  test('by default /metrics is served on the main port', async () => {
    const res = await fetch(`${hub.url}/metrics`);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /process_cpu_user_seconds_total/);
  });

  test('with METRICS_PORT the main port answers 404, and METRICS_TOKEN guards the metrics port', async () => {
    const line = production
      .output()
      .split('\n')
      .find((l) => l.includes('metrics served on a port of their own'));
    assert.ok(line, 'the hub says where its metrics are');
    const metricsUrl = (JSON.parse(line) as { url: string }).url;
    const main = await fetch(`${production.url}/metrics`, { headers: { accept: 'text/html' } });
    assert.equal(main.status, 404);
    await main.arrayBuffer();
    assert.match(metricsUrl, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const anonymous = await fetch(metricsUrl);
    assert.equal(anonymous.status, 401);
    assert.equal(((await anonymous.json()) as { error: { code: string } }).error.code, 'UNAUTHENTICATED');
    const wrong = await fetch(metricsUrl, { headers: bearer(`${METRICS_TOKEN}x`) });
    assert.equal(wrong.status, 401);
    await wrong.arrayBuffer();
    const scraped = await fetch(metricsUrl, { headers: bearer(METRICS_TOKEN) });
    assert.equal(scraped.status, 200);
    assert.match(await scraped.text(), /process_cpu_user_seconds_total/);
  });
});

describe('security headers', () => {
  test('GraphQL and API answers carry them, with a policy that runs no inline script', async () => {
    const answers = [
      await fetch(`${hub.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: '{ __typename }' }),
      }),
      await fetch(`${hub.url}/api/documents/nope/file`, { headers: hub.ownerAuth }),
      await fetch(`${hub.url}/healthz`),
    ];
    for (const res of answers) {
      await res.arrayBuffer();
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
      assert.equal(res.headers.get('x-frame-options'), 'DENY');
      assert.equal(res.headers.get('referrer-policy'), 'no-referrer');
      assert.equal(res.headers.get('cross-origin-resource-policy'), 'same-origin');
      const csp = res.headers.get('content-security-policy') ?? '';
      assert.match(csp, /default-src 'self'/);
      assert.match(csp, /frame-ancestors 'none'/);
      assert.doesNotMatch(csp.split(';').find((d) => d.trim().startsWith('script-src')) ?? '', /unsafe-inline|unsafe-eval/);
    }
  });
});
