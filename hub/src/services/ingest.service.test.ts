import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sanitizeFilename } from './ingest.service.ts';

describe('sanitizeFilename', () => {
  it('keeps the base name, and names in any script', () => {
    assert.equal(sanitizeFilename('C:\\Users\\me\\รายงาน 📄.txt'), 'รายงาน 📄.txt');
    assert.equal(sanitizeFilename('../../etc/passwd'), 'passwd');
  });

  it('removes C0, DEL and C1 controls and bidirectional formatting characters', () => {
    assert.equal(sanitizeFilename('a\u0000b\u001fc\u007fd\u0085e\u009bf.txt'), 'abcdef.txt');
    assert.equal(sanitizeFilename('invoice\u202Efdp.exe'), 'invoicefdp.exe');
    for (const c of ['\u061c', '\u200e', '\u200f', '\u202a', '\u202b', '\u202c', '\u202d', '\u2066', '\u2067', '\u2068', '\u2069']) {
      assert.equal(sanitizeFilename(`x${c}y.txt`), 'xy.txt', `U+${c.codePointAt(0)!.toString(16)}`);
    }
    assert.equal(sanitizeFilename('\u202e\u0085 '), 'upload');
  });

  it('keeps at most 255 characters, never half a surrogate pair', () => {
    assert.equal(sanitizeFilename('a'.repeat(300)), 'a'.repeat(255));
    const cut = sanitizeFilename(`a${'😀'.repeat(300)}`);
    assert.equal(Array.from(cut).length, 255);
    assert.equal(cut, `a${'😀'.repeat(254)}`);
    assert.doesNotMatch(cut, /[\ud800-\udbff](?![\udc00-\udfff])/);
  });
});
