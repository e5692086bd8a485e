import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { before, describe, it } from 'node:test';
import sharp from 'sharp';
import { ensureFixtures } from '../../../test/fixtures/generate.ts';
import { handMadeTiff, overlappingTiffDirectories } from '../../../test/fixtures/hand-made-tiff.ts';
import { fixturePath } from '../../../test/fixtures/manifest.ts';
import {
  MAX_TIFF_DIRECTORY_ENTRIES,
  MAX_TIFF_ENTRIES_READ,
  placeOfFirstDirectory,
  readTiffHeader,
  readTiffPages,
  TiffError,
  type TiffErrorKind,
} from './tiff.ts';

/** Reads the pages of `data` expecting a refusal of `kind`, and returns how long that took in ms. */
function refusalTime(data: Uint8Array, kind: TiffErrorKind): number {
  const started = performance.now();
  assert.throws(
    () => readTiffPages(data, 2000),
    (e: unknown) => e instanceof TiffError && e.kind === kind,
  );
  return performance.now() - started;
}

describe('TIFF structure', () => {
  before(() => ensureFixtures());

  it('reads classic and BigTIFF headers in both byte orders', async () => {
    assert.deepEqual(readTiffHeader(handMadeTiff([{ width: 4, height: 4 }], { directories: 'start' })), {
      littleEndian: true,
      bigTiff: false,
      firstDirectory: 8,
    });
    assert.equal(readTiffHeader(handMadeTiff([{ width: 4, height: 4 }], { bigEndian: true }))?.littleEndian, false);
    const big = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#fff' } })
      .tiff({ bigtiff: true })
      .toBuffer();
    const header = readTiffHeader(new Uint8Array(big));
    assert.equal(header?.bigTiff, true);
    assert.equal(placeOfFirstDirectory(header!, big.length), 'inside');
    assert.equal(readTiffHeader(new TextEncoder().encode('II* plain text here')), null);
    assert.equal(readTiffHeader(new Uint8Array([0x49, 0x49, 0x2b, 0x00, 0x04, 0x00, 0x00, 0x00])), null);
  });

  it('tells a first directory inside the file from one past its end or inside its header', () => {
    const tiff = handMadeTiff([{ width: 100, height: 100 }]);
    const header = readTiffHeader(tiff)!;
    assert.equal(placeOfFirstDirectory(header, tiff.length), 'inside');
    assert.equal(placeOfFirstDirectory(header, header.firstDirectory + 4), 'past-end');
    assert.equal(placeOfFirstDirectory({ ...header, firstDirectory: 0 }, tiff.length), 'in-header');
  });

  it('reads every page size of a multi-page TIFF written by libvips', async () => {
    const letter = new Uint8Array(await readFile(fixturePath('scanned-letter.tiff')));
    assert.deepEqual(readTiffPages(letter, 2000), [
      { width: 1166, height: 1654 },
      { width: 1166, height: 1654 },
    ]);
    const big = await sharp(letter, { pages: -1 }).tiff({ bigtiff: true }).toBuffer();
    assert.equal(readTiffPages(new Uint8Array(big), 2000).length, 2);
  });

  it('stops one page past the limit, at a loop and at a link outside the file', () => {
    const many = handMadeTiff(Array.from({ length: 50 }, () => ({ width: 1, height: 1 })));
    assert.equal(readTiffPages(many, 10).length, 11);
    assert.equal(readTiffPages(many, 100).length, 50);

    const looped = handMadeTiff([{ width: 3, height: 2 }], { directories: 'start' });
    const view = new DataView(looped.buffer);
    // The one directory names itself as the next.
    view.setUint32(8 + 2 + view.getUint16(8, true) * 12, 8, true);
    assert.deepEqual(readTiffPages(looped, 2000), [{ width: 3, height: 2 }]);

    const outside = handMadeTiff([{ width: 3, height: 2 }], { firstDirectoryAt: 1_000_000 });
    assert.deepEqual(readTiffPages(outside, 2000), []);
  });

  it('refuses a directory larger than libtiff reads, before scanning its entries', () => {
    // 201 BigTIFF directories of a million entries over the same 20 MB: walking them all is
    // 2 x 10^8 entries, about a second of blocking work.
    const big = overlappingTiffDirectories({ bigTiff: true, directories: 201, entries: 1_000_000 });
    const ms = refusalTime(big, 'directory-too-large');
    assert.ok(ms < 100, `refused after ${ms} ms`);

    // A classic directory counts its entries in 16 bits; past 4096 it is refused the same way.
    refusalTime(overlappingTiffDirectories({ directories: 3, entries: MAX_TIFF_DIRECTORY_ENTRIES + 1 }), 'directory-too-large');
    const atLimit = overlappingTiffDirectories({ directories: 3, entries: MAX_TIFF_DIRECTORY_ENTRIES });
    assert.deepEqual(
      readTiffPages(atLimit, 2000),
      Array.from({ length: 3 }, () => ({ width: 1, height: 1 })),
    );
  });

  it('stops reading overlapping directories past a million entries in all', () => {
    const entries = 4000;
    const within = Math.floor(MAX_TIFF_ENTRIES_READ / entries);
    assert.equal(readTiffPages(overlappingTiffDirectories({ bigTiff: true, directories: within, entries }), 2000).length, within);

    const past = overlappingTiffDirectories({ bigTiff: true, directories: within + 50, entries });
    const ms = refusalTime(past, 'too-many-entries');
    assert.ok(ms < 1000, `refused after ${ms} ms`);
  });

  it('reads the size a page claims without its pixels', () => {
    const bomb = handMadeTiff(
      [
        { width: 40, height: 30 },
        { width: 100_000, height: 100_000 },
      ],
      { bigEndian: true },
    );
    assert.deepEqual(readTiffPages(bomb, 2000), [
      { width: 40, height: 30 },
      { width: 100_000, height: 100_000 },
    ]);
  });
});
