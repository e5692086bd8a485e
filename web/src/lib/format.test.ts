import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatBytes, formatEta, stageName } from './format.ts';

describe('format', () => {
  it('writes sizes in the nearest unit', () => {
    assert.equal(formatBytes(512), '512 B');
    assert.equal(formatBytes(1536), '1.5 KB');
    assert.equal(formatBytes(143 * 1024), '143 KB');
    assert.equal(formatBytes(5 * 1024 * 1024), '5.0 MB');
  });

  it('says how long is left, or nothing while unknown', () => {
    assert.equal(formatEta(null), null);
    assert.equal(formatEta(Number.NaN), null);
    assert.equal(formatEta(900), 'almost done');
    assert.equal(formatEta(12_000), 'about 12 s left');
    assert.equal(formatEta(300_000), 'about 5 min left');
  });

  it('names pipeline stages in words, and unknown ones as they are', () => {
    assert.equal(stageName('ocr'), 'Recognising text');
    assert.equal(stageName('translate'), 'Translate');
    assert.equal(stageName(null), '');
  });
});
