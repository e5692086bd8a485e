import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import { createLogger, resolveLogFormat } from './logger.ts';

/** A destination that keeps what was written. */
function capture(): Writable & { text(): string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return Object.assign(stream, { text: () => chunks.join('') });
}

describe('logger', () => {
  it('writes pretty lines on a terminal and JSON elsewhere, unless a format is asked for', () => {
    assert.equal(resolveLogFormat('auto', true), 'pretty');
    assert.equal(resolveLogFormat('auto', false), 'json');
    assert.equal(resolveLogFormat('json', true), 'json');
    assert.equal(resolveLogFormat('pretty', false), 'pretty');
  });

  it('writes one JSON object per line when not on a terminal', () => {
    const out = capture();
    createLogger({ level: 'info', format: 'auto' }, { isTTY: false, destination: out }).info({ documentId: 'd1' }, 'document processed');
    const line = JSON.parse(out.text()) as Record<string, unknown>;
    assert.equal(line.msg, 'document processed');
    assert.equal(line.documentId, 'd1');
  });

  it('writes a readable line with the level, message and fields on a terminal', async () => {
    const out = capture();
    const logger = createLogger({ level: 'info', format: 'auto' }, { isTTY: true, destination: out });
    logger.info({ documentId: 'd1' }, 'document processed');
    logger.debug('below the level');
    await tick();
    const text = out.text();
    assert.match(text, /INFO.*document processed/);
    assert.match(text, /documentId: "d1"/);
    assert.doesNotMatch(text, /below the level/);
    assert.throws(() => JSON.parse(text));
  });
});
