import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { before, describe, it } from 'node:test';
import { fileTypeFromBuffer } from 'file-type';
import sharp from 'sharp';
import { utf16 } from '../../test/fixtures/bytes.ts';
import { ensureFixtures } from '../../test/fixtures/generate.ts';
import { handMadeTiff } from '../../test/fixtures/hand-made-tiff.ts';
import { FIXTURES, fixturePath, type Fixture } from '../../test/fixtures/manifest.ts';
import { decodeText, SNIFF_HEAD_BYTES, sniffMedia, type SniffResult } from './media-sniff.ts';

/** Sniffs the way an upload is sniffed: from the first bytes only, and the size. */
const sniffHead = (data: Uint8Array): Promise<SniffResult> => sniffMedia({ head: data.subarray(0, SNIFF_HEAD_BYTES), size: data.length });

describe('sniffMedia', () => {
  before(() => ensureFixtures());

  it('gives the same verdict from the first 8 KB as from the whole file', async () => {
    for (const fixture of Object.values(FIXTURES) as Fixture[]) {
      const data = new Uint8Array(await readFile(fixturePath(fixture.file)));
      if (data.length === 0) continue;
      assert.deepEqual(await sniffHead(data), await sniffMedia({ head: data, size: data.length }), fixture.file);
    }
  });

  it('recognises a multi-page TIFF whose directories follow the pixels, as libvips writes it', async () => {
    const letter = new Uint8Array(await readFile(fixturePath(FIXTURES['scanned-letter.tiff'].file)));
    const firstDirectory = new DataView(letter.buffer, letter.byteOffset).getUint32(4, true);
    assert.ok(firstDirectory > SNIFF_HEAD_BYTES, 'the first directory lies past the sniffed head');
    // The cause of the refusals: file-type gives no answer for such a head.
    assert.equal(await fileTypeFromBuffer(letter.subarray(0, SNIFF_HEAD_BYTES)), undefined);
    assert.deepEqual(await sniffHead(letter), { kind: 'binary', mime: 'image/tiff', truncated: false });
  });

  it('recognises both byte orders and BigTIFF', async () => {
    const pages = [{ width: 4000, height: 200 }];
    for (const bigEndian of [false, true]) {
      assert.deepEqual(await sniffHead(handMadeTiff(pages, { bigEndian })), { kind: 'binary', mime: 'image/tiff', truncated: false });
    }
    const big = await sharp({ create: { width: 3000, height: 400, channels: 3, background: '#ffffff' } })
      .tiff({ bigtiff: true, compression: 'none' })
      .toBuffer();
    assert.equal(big.subarray(0, 4).toString('latin1'), 'II+\0');
    assert.deepEqual(await sniffHead(new Uint8Array(big)), { kind: 'binary', mime: 'image/tiff', truncated: false });
  });

  it('marks a TIFF whose first directory lies past its end as truncated, and refuses one pointing into its header', async () => {
    const tiff = handMadeTiff([{ width: 4000, height: 200 }]);
    const directoryAt = new DataView(tiff.buffer).getUint32(4, true);
    const cut = await sniffHead(tiff.subarray(0, directoryAt + 4));
    assert.equal(cut.kind === 'binary' && cut.truncated, true);
    const odd = await sniffHead(handMadeTiff([{ width: 40, height: 10 }], { firstDirectoryAt: 2 }));
    assert.equal(odd.kind, 'unsupported');
  });

  it('takes text with a byte order mark in its encoding, and never for MPEG audio', async () => {
    // The cause of the refusals: file-type names UTF-16 LE text MPEG audio.
    assert.equal((await fileTypeFromBuffer(utf16('Hello there\n', 'le')))?.mime, 'audio/mpeg');
    assert.deepEqual(await sniffHead(utf16('Hello there\n', 'le')), { kind: 'text', encoding: 'utf-16le' });
    assert.deepEqual(await sniffHead(utf16('Hello there\n', 'be')), { kind: 'text', encoding: 'utf-16be' });
    assert.deepEqual(await sniffHead(new TextEncoder().encode('\uFEFFHello\n')), { kind: 'text', encoding: 'utf-8' });
    // A long UTF-16 text whose head ends inside a character pair is still text.
    const long = utf16(`${'a'.repeat(SNIFF_HEAD_BYTES / 2 - 2)}😀 and more\n`, 'le');
    assert.deepEqual(await sniffHead(long), { kind: 'text', encoding: 'utf-16le' });
  });

  it('refuses binary data behind a byte order mark, UTF-16 without one, and text with NUL characters', async () => {
    const refused = async (data: Uint8Array, detected: RegExp) => {
      const result = await sniffHead(data);
      assert.equal(result.kind, 'unsupported');
      assert.match(result.kind === 'unsupported' ? result.detected : '', detected);
    };
    await refused(new Uint8Array([0xff, 0xfe, 0x41, 0x00, 0x00, 0xd8, 0x41, 0x00]), /not valid UTF-16LE/);
    await refused(new Uint8Array([0xff, 0xfe, 0x00, 0x00, 0x41, 0x00, 0x00, 0x00]), /NUL/);
    await refused(new Uint8Array(Buffer.from('no mark here', 'utf16le')), /NUL/);
    await refused(new Uint8Array([0x68, 0x69, 0xc3, 0x28]), /not valid UTF-8/);
  });
});

describe('decodeText', () => {
  it('decodes UTF-8 and UTF-16 by their byte order marks, without the mark', () => {
    assert.deepEqual(decodeText(new TextEncoder().encode('héllo\r\n')), { ok: true, text: 'héllo\r\n', encoding: 'utf-8' });
    assert.deepEqual(decodeText(new TextEncoder().encode('\uFEFFhéllo')), { ok: true, text: 'héllo', encoding: 'utf-8' });
    assert.deepEqual(decodeText(utf16('Grüße 😀', 'le')), { ok: true, text: 'Grüße 😀', encoding: 'utf-16le' });
    assert.deepEqual(decodeText(utf16('Grüße 😀', 'be')), { ok: true, text: 'Grüße 😀', encoding: 'utf-16be' });
  });

  it('refuses invalid sequences, NUL characters and many control characters', () => {
    assert.equal(decodeText(new Uint8Array([0x68, 0xc3])).ok, false);
    assert.equal(decodeText(new Uint8Array([0x68, 0xc3]), { partial: true }).ok, true);
    assert.equal(decodeText(new TextEncoder().encode('a\u0000b')).ok, false);
    assert.equal(decodeText(new TextEncoder().encode(`\u001b[1m${'log line '.repeat(30)}`)).ok, true);
    assert.equal(decodeText(new TextEncoder().encode('\u0001\u0002\u0003 abc')).ok, false);
    // An odd byte count cannot be UTF-16.
    assert.equal(decodeText(utf16('abc', 'le').subarray(0, 7)).ok, false);
  });
});
