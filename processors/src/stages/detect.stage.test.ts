import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { before, describe, it } from 'node:test';
import { ensureFixtures } from '../../../test/fixtures/generate.ts';
import { FIXTURES, fixturePath, type Fixture } from '../../../test/fixtures/manifest.ts';
import { PipelineError } from '../pipeline-error.ts';
import { decodeText, detect } from './detect.stage.ts';

const job = (filename: string, mimeType = 'application/octet-stream') => ({ filename, mimeType });
const bytes = (text: string) => new TextEncoder().encode(text);

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (e: unknown) => e instanceof PipelineError && e.code === code && e.stage === 'detect' && !e.retryable);
}

describe('detect stage', () => {
  before(() => ensureFixtures());

  it('sniffs every readable fixture from its bytes', async () => {
    for (const fixture of Object.values(FIXTURES) as Fixture[]) {
      if (fixture.kind === 'hostile') continue;
      const data = new Uint8Array(await readFile(fixturePath(fixture.file)));
      assert.equal(await detect(data, job(fixture.file)), fixture.mime, fixture.file);
      // The bytes decide even when the name says nothing.
      assert.equal(await detect(data, job('upload')), fixture.mime === 'text/markdown' ? 'text/markdown' : fixture.mime, fixture.file);
    }
  });

  it('refuses text bytes named .pdf, and a declared type that contradicts the bytes', async () => {
    const fake = new Uint8Array(await readFile(fixturePath('not-really.pdf')));
    await rejectsWith(detect(fake, job('not-really.pdf')), 'MEDIA_TYPE_MISMATCH');
    await rejectsWith(detect(fake, job('notes', 'application/pdf')), 'MEDIA_TYPE_MISMATCH');
    const png = new Uint8Array(await readFile(fixturePath('scanned-invoice.png')));
    await rejectsWith(detect(png, job('scan.jpg')), 'MEDIA_TYPE_MISMATCH');
  });

  it('accepts plain text declared as Markdown and the other way round', async () => {
    assert.equal(await detect(bytes('just words\n'), job('a.md')), 'text/markdown');
    assert.equal(await detect(bytes('# Title\n\ntext\n'), job('a.txt', 'text/plain')), 'text/plain');
    assert.equal(await detect(bytes('# Title\n\ntext\n'), job('upload')), 'text/markdown');
    assert.equal(await detect(bytes('plain words only\n'), job('upload')), 'text/plain');
  });

  it('refuses empty and whitespace-only documents', async () => {
    await rejectsWith(detect(new Uint8Array(0), job('empty.txt')), 'EMPTY_DOCUMENT');
    await rejectsWith(detect(bytes(' \n\t\n'), job('blank.txt')), 'EMPTY_DOCUMENT');
  });

  it('refuses binary formats it does not read and binary garbage', async () => {
    const zip = new Uint8Array([0x50, 0x4b, 0x03, 0x04, 0x14, 0x00, 0x00, 0x00, 0x08, 0x00, ...new Array(40).fill(0)]);
    await rejectsWith(detect(zip, job('archive.zip')), 'UNSUPPORTED_MEDIA_TYPE');
    await rejectsWith(detect(new Uint8Array([0xff, 0xfe, 0x00, 0x41, 0x00, 0x01, 0x02]), job('x.bin')), 'UNSUPPORTED_MEDIA_TYPE');
  });

  it('refuses documents over the byte limit', async () => {
    await rejectsWith(detect(bytes('x'.repeat(2048)), job('big.txt'), { maxBytes: 1024 }), 'DOCUMENT_TOO_LARGE');
  });

  it('decodes strict UTF-8 only', () => {
    assert.equal(decodeText(bytes('héllo\r\n')), 'héllo\r\n');
    assert.equal(decodeText(new Uint8Array([0x68, 0xc3])), null);
    assert.equal(decodeText(bytes('a\u0000b')), null);
  });
});
