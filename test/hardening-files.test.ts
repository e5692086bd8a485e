/**
 * Files that used to be refused or mishandled, against a real hub with real OCR and models:
 * TIFFs whose directories follow the pixels (as scanners write them) are read and OCR'd, a
 * TIFF bomb fails on its size, UTF-16 text with a byte order mark is read and searchable, a
 * PDF without pages fails like an empty text while a blank scan is processed, and the
 * temporary file of an upload cut off by a crash is gone after the restart.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { PDFDocument } from 'pdf-lib';
import sharp from 'sharp';
import { utf16 } from './fixtures/bytes.ts';
import { ensureFixtures } from './fixtures/generate.ts';
import { handMadeTiff } from './fixtures/hand-made-tiff.ts';
import { FIXTURES, fixturePath } from './fixtures/manifest.ts';
import { settledDocument, startHub, waitFor, type HubProcess } from './helpers/hub.ts';

let hub: HubProcess;

before(async () => {
  await ensureFixtures();
  hub = await startHub({ seedOwner: true });
});
after(async () => {
  await hub?.stop();
});

/** Uploads a file, asserts it was accepted, and waits until its processing ended either way. */
async function settle(file: { name: string; data: Uint8Array; type?: string }) {
  const res = await hub.upload(file);
  assert.equal(res.status, 202, `${file.name}: ${JSON.stringify(res.body)}`);
  const id: string = res.body.documentId;
  return { id, ...(await settledDocument(hub, id, 240_000, 'mimeType pageCount error { code message stage }')) };
}

async function textSearch(q: string): Promise<string[]> {
  const { data, errors } = await hub.gql('query($q: String!) { search(query: $q, mode: TEXT, first: 10) { document { id } } }', { q });
  assert.equal(errors, undefined, JSON.stringify(errors));
  return data.search.map((hit: { document: { id: string } }) => hit.document.id);
}

describe('hardened file handling', () => {
  test('a multi-page TIFF whose directories follow the pixels is accepted, OCR’d and searchable', { timeout: 300_000 }, async () => {
    const letter = FIXTURES['scanned-letter.tiff'];
    const data = new Uint8Array(await readFile(fixturePath(letter.file)));
    assert.ok(new DataView(data.buffer, data.byteOffset).getUint32(4, true) > 8192, 'first directory past the first 8 KB');
    const doc = await settle({ name: 'letter.tiff', data, type: 'image/tiff' });
    assert.equal(doc.status, 'PROCESSED', JSON.stringify(doc.error));
    assert.equal(doc.mimeType, 'image/tiff');
    assert.equal(doc.pageCount, 2);
    assert.ok((await textSearch(letter.phrase!)).includes(doc.id), 'its OCR text is searchable');
  });

  test('a TIFF bomb is accepted as a TIFF and fails on its size, not its type', { timeout: 120_000 }, async () => {
    for (const pages of [[{ width: 100_000, height: 100_000 }], Array.from({ length: 2001 }, () => ({ width: 8, height: 8 }))]) {
      const doc = await settle({ name: 'bomb.tiff', data: handMadeTiff(pages) });
      assert.equal(doc.status, 'FAILED');
      assert.equal(doc.mimeType, 'image/tiff');
      assert.equal(doc.error.code, 'DOCUMENT_TOO_LARGE', doc.error.message);
      assert.equal(doc.error.stage, 'ocr');
    }
  });

  test('UTF-16 text with a byte order mark is read and its words are searchable', { timeout: 120_000 }, async () => {
    const le = await settle({
      name: 'minutes.txt',
      data: utf16('Minutes of the quarterly budget review: the committee approved the zeppelin hangar.\r\n', 'le'),
    });
    const be = await settle({ name: 'memo.txt', data: utf16('Memo: the observatory telescope needs a new aluminium mirror.\n', 'be') });
    for (const doc of [le, be]) {
      assert.equal(doc.status, 'PROCESSED', JSON.stringify(doc.error));
      assert.equal(doc.mimeType, 'text/plain');
    }
    assert.deepEqual(await textSearch('zeppelin hangar'), [le.id]);
    assert.deepEqual(await textSearch('aluminium mirror'), [be.id]);
  });

  test('a PDF without pages fails as EMPTY_DOCUMENT like an empty text; a blank scan is processed', { timeout: 120_000 }, async () => {
    const empty = await PDFDocument.create();
    const noPages = await settle({ name: 'no-pages.pdf', data: await empty.save({ addDefaultPage: false }) });
    assert.equal(noPages.status, 'FAILED');
    assert.deepEqual([noPages.error.code, noPages.error.stage], ['EMPTY_DOCUMENT', 'extract']);

    const blankText = await settle({ name: 'blank.txt', data: new TextEncoder().encode(' \n\t\n') });
    assert.equal(blankText.status, 'FAILED');
    assert.equal(blankText.error.code, 'EMPTY_DOCUMENT');

    const white = await sharp({ create: { width: 600, height: 800, channels: 3, background: '#ffffff' } })
      .png()
      .toBuffer();
    const blankScan = await settle({ name: 'blank-scan.png', data: new Uint8Array(white) });
    assert.equal(blankScan.status, 'PROCESSED', JSON.stringify(blankScan.error));
    assert.equal(blankScan.pageCount, 1);
  });
});

test('the temporary file of an upload cut off by a crash is removed at the next start', { timeout: 400_000 }, async (t) => {
  const first = await startHub({ seedOwner: true });
  const restarted: HubProcess[] = [];
  t.after(async () => {
    await first.kill9();
    for (const again of restarted) await again.stop({ keepData: true });
    await rm(first.dataDir, { recursive: true, force: true });
  });
  const tmp = join(first.dataDir, 'blobs', '.tmp');

  // An upload whose body never ends: the hub streams it into a temporary file meanwhile.
  const boundary = 'quireboundary';
  const req = request(`${first.url}/api/documents`, {
    method: 'POST',
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, 'transfer-encoding': 'chunked', ...first.ownerAuth },
  });
  req.on('error', () => {});
  req.write(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.txt"\r\nContent-Type: text/plain\r\n\r\n`);
  req.write('a line of a long text that is still arriving\n'.repeat(2000));
  const leftovers = await waitFor(
    async () => {
      const names = await readdir(tmp);
      return names.length > 0 ? names : undefined;
    },
    30_000,
    'the upload’s temporary file',
  );

  await first.kill9();
  req.destroy();
  assert.deepEqual(await readdir(tmp), leftovers, 'the crash left the temporary file behind');

  restarted.push(await startHub({ dataDir: first.dataDir, seedOwner: true }));
  assert.deepEqual(await readdir(tmp), []);
});
