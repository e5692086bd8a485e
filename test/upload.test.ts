/**
 * Upload errors and duplicates against a real hub process: 415 for unsupported or
 * mismatched types, 413 over the size limit, 400 for empty or truncated uploads, and the
 * existing document for the same bytes twice.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { PDFDocument, StandardFonts } from 'pdf-lib';
import { startHub, type HubProcess } from './helpers/hub.ts';

let hub: HubProcess;

before(async () => {
  hub = await startHub({ seedOwner: true, env: { UPLOAD_MAX_BYTES: '1mb' } });
});
after(async () => {
  await hub?.stop();
});

async function tinyPdf(text: string): Promise<Uint8Array> {
  const pdf = await PDFDocument.create();
  const page = pdf.addPage([300, 200]);
  page.drawText(text, { x: 20, y: 100, size: 12, font: await pdf.embedFont(StandardFonts.Helvetica) });
  return pdf.save();
}

function expectError(res: { status: number; body: any }, status: number, code: string) {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.equal(res.body.error?.code, code, JSON.stringify(res.body));
  assert.equal(typeof res.body.error.message, 'string');
  assert.ok(res.body.error.message.length > 0);
}

describe('upload', () => {
  test('accepts a PDF with 202 and ids, without waiting for processing', async () => {
    const res = await hub.upload({ name: 'hello.pdf', data: await tinyPdf('Hello upload test'), type: 'application/pdf' });
    assert.equal(res.status, 202);
    assert.match(res.body.documentId, /^[0-9a-f-]{36}$/);
    assert.match(res.body.jobId, /^[0-9a-f-]{36}$/);
    assert.equal(res.body.duplicateOf, undefined);
    const { data } = await hub.gql('query($id: ID!) { document(id: $id) { id filename mimeType size } }', { id: res.body.documentId });
    assert.equal(data.document.filename, 'hello.pdf');
    assert.equal(data.document.mimeType, 'application/pdf');
  });

  test('the same bytes twice return the existing document', async () => {
    const data = new TextEncoder().encode(`duplicate check ${Date.now()}\n`);
    const first = await hub.upload({ name: 'a.txt', data });
    const second = await hub.upload({ name: 'b.txt', data });
    assert.equal(first.status, 202);
    assert.equal(second.status, 200);
    assert.equal(second.body.duplicateOf, first.body.documentId);
    assert.equal(second.body.documentId, first.body.documentId);
    assert.equal(second.body.jobId, first.body.jobId);
  });

  test('unsupported bytes get 415 UNSUPPORTED_MEDIA_TYPE', async () => {
    const zip = Uint8Array.from([0x50, 0x4b, 0x03, 0x04, ...new Array(200).fill(0)]);
    expectError(await hub.upload({ name: 'archive.zip', data: zip }), 415, 'UNSUPPORTED_MEDIA_TYPE');
    const binary = Uint8Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256);
    expectError(await hub.upload({ name: 'blob.bin', data: binary }), 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  test('a name or declared type that contradicts the bytes gets 415 MEDIA_TYPE_MISMATCH', async () => {
    const text = new TextEncoder().encode('this is plain text, not a PDF\n');
    expectError(await hub.upload({ name: 'report.pdf', data: text }), 415, 'MEDIA_TYPE_MISMATCH');
    expectError(await hub.upload({ name: 'scan', data: await tinyPdf('x'), type: 'image/png' }), 415, 'MEDIA_TYPE_MISMATCH');
  });

  test('over the size limit gets 413 PAYLOAD_TOO_LARGE', async () => {
    const big = new Uint8Array(1024 * 1024 + 10).fill(0x61);
    expectError(await hub.upload({ name: 'big.txt', data: big }), 413, 'PAYLOAD_TOO_LARGE');
  });

  test('an empty file gets 400 EMPTY_UPLOAD', async () => {
    expectError(await hub.upload({ name: 'empty.txt', data: new Uint8Array() }), 400, 'EMPTY_UPLOAD');
  });

  test('a truncated file gets 400 TRUNCATED_UPLOAD', async () => {
    const pdf = await tinyPdf('cut short');
    expectError(await hub.upload({ name: 'cut.pdf', data: pdf.subarray(0, Math.floor(pdf.length * 0.6)) }), 400, 'TRUNCATED_UPLOAD');
  });

  test('a multipart body that ends early gets 400 TRUNCATED_UPLOAD', async () => {
    const boundary = 'quireboundary';
    const partial =
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="notes.txt"\r\n` +
      `Content-Type: text/plain\r\n\r\nsome text that never finishes`;
    const res = await new Promise<{ status: number; body: any }>((resolve, reject) => {
      const req = request(`${hub.url}/api/documents`, {
        method: 'POST',
        headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, 'transfer-encoding': 'chunked', ...hub.ownerAuth },
      });
      req.on('response', (r) => {
        let body = '';
        r.on('data', (d) => (body += d));
        r.on('end', () => resolve({ status: r.statusCode ?? 0, body: JSON.parse(body) }));
      });
      req.on('error', reject);
      req.end(partial);
    });
    expectError(res, 400, 'TRUNCATED_UPLOAD');
  });

  test('a body without a file field gets 400 MISSING_FILE', async () => {
    const form = new FormData();
    form.append('note', 'no file here');
    const res = await fetch(`${hub.url}/api/documents`, { method: 'POST', body: form, headers: hub.ownerAuth });
    expectError({ status: res.status, body: await res.json() }, 400, 'MISSING_FILE');
  });

  test('a refused upload leaves no document behind', async () => {
    const { data } = await hub.gql('{ documents(first: 100) { totalCount nodes { filename } } }');
    const names = data.documents.nodes.map((n: { filename: string }) => n.filename).sort();
    assert.deepEqual(names, ['a.txt', 'hello.pdf']);
  });
});
