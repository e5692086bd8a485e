import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { before, describe, it } from 'node:test';
import { utf16 } from '../../../test/fixtures/bytes.ts';
import { ensureFixtures } from '../../../test/fixtures/generate.ts';
import { FIXTURES, fixturePath, type Fixture } from '../../../test/fixtures/manifest.ts';
import { handMadeTiff } from '../../../test/fixtures/hand-made-tiff.ts';
import { PipelineError } from '@quire/kernel';
import { detect } from './detect.stage.ts';

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
      assert.equal((await detect(data, job(fixture.file))).mime, fixture.mime, fixture.file);
      // The bytes decide even when the name says nothing.
      assert.equal(
        (await detect(data, job('upload'))).mime,
        fixture.mime === 'text/markdown' ? 'text/markdown' : fixture.mime,
        fixture.file,
      );
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
    assert.equal((await detect(bytes('just words\n'), job('a.md'))).mime, 'text/markdown');
    assert.equal((await detect(bytes('# Title\n\ntext\n'), job('a.txt', 'text/plain'))).mime, 'text/plain');
    assert.equal((await detect(bytes('# Title\n\ntext\n'), job('upload'))).mime, 'text/markdown');
    assert.equal((await detect(bytes('plain words only\n'), job('upload'))).mime, 'text/plain');
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

  it('recognises a TIFF from its header when its directories come after the pixels', async () => {
    // Pages of 4000x200 pixels put the first directory far past the first 8 KB.
    for (const bigEndian of [false, true]) {
      const tiff = handMadeTiff(
        [
          { width: 4000, height: 200 },
          { width: 4000, height: 200 },
        ],
        { bigEndian },
      );
      assert.ok(new DataView(tiff.buffer).getUint32(4, !bigEndian) > 8192);
      assert.equal((await detect(tiff, job('scan.tif', 'image/tiff'))).mime, 'image/tiff');
      assert.equal((await detect(tiff, job('upload'))).mime, 'image/tiff');
    }
  });

  it('passes a TIFF that claims enormous pages on to the size checks instead of refusing its type', async () => {
    const bomb = handMadeTiff([{ width: 100_000, height: 100_000 }]);
    assert.ok(bomb.length < 4096);
    assert.equal((await detect(bomb, job('bomb.tiff'))).mime, 'image/tiff');
  });

  it('refuses a TIFF cut before its first directory as unreadable, and a header pointing into itself', async () => {
    const tiff = handMadeTiff([{ width: 4000, height: 200 }]);
    const directoryAt = new DataView(tiff.buffer).getUint32(4, true);
    await rejectsWith(detect(tiff.subarray(0, directoryAt + 4), job('cut.tiff')), 'IMAGE_UNREADABLE');
    await rejectsWith(
      detect(handMadeTiff([{ width: 40, height: 10 }], { firstDirectoryAt: 4 }), job('odd.tiff')),
      'UNSUPPORTED_MEDIA_TYPE',
    );
  });

  it('reads UTF-16 text with a byte order mark, and UTF-8 with one', async () => {
    for (const endian of ['le', 'be'] as const) {
      assert.equal((await detect(utf16('Grüße aus Köln\r\n', endian), job('notes.txt', 'text/plain'))).mime, 'text/plain');
      assert.equal((await detect(utf16('# Minutes\n\n- item\n', endian), job('upload'))).mime, 'text/markdown');
      assert.equal((await detect(utf16('plain words\n', endian), job('notes.md'))).mime, 'text/markdown');
    }
    assert.equal((await detect(bytes('\uFEFFplain words\n'), job('notes.txt'))).mime, 'text/plain');
    await rejectsWith(detect(utf16(' \n', 'le'), job('blank.txt')), 'EMPTY_DOCUMENT');
  });

  it('refuses invalid text with UNSUPPORTED_MEDIA_TYPE and says why', async () => {
    const refusedFor = async (data: Uint8Array, reason: RegExp) =>
      assert.rejects(
        detect(data, job('notes.txt')),
        (e: unknown) => e instanceof PipelineError && e.code === 'UNSUPPORTED_MEDIA_TYPE' && reason.test(e.message),
      );
    // Valid in the first 8 KB, invalid UTF-8 later on: the whole text is checked.
    await refusedFor(new Uint8Array([...bytes('a'.repeat(10_000)), 0xc3, 0x28]), /not valid UTF-8/);
    await refusedFor(bytes(`${'a'.repeat(10_000)}\u0000b`), /NUL/);
    await refusedFor(utf16('a\u0000b', 'le'), /NUL/);
    // A lone surrogate is no UTF-16 text.
    await refusedFor(new Uint8Array([0xff, 0xfe, 0x41, 0x00, 0x00, 0xd8, 0x41, 0x00]), /not valid UTF-16LE/);
    // UTF-16 without a byte order mark is not taken for text.
    await refusedFor(new Uint8Array(Buffer.from('plain words', 'utf16le')), /NUL/);
  });
});
