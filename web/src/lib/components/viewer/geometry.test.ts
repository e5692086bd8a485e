import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Chunk, Page } from './document.ts';
import { boxesForRange, mergeLines } from './geometry.ts';

const box = (x: number, y: number, w: number, h = 10) => ({ x, y, w, h });

describe('viewer geometry', () => {
  it('joins neighbouring words of a line into one band and keeps other lines apart', () => {
    const merged = mergeLines([box(0, 0, 20), box(24, 1, 30), box(0, 40, 50)]);
    assert.deepEqual(merged, [box(0, 0, 54, 11), box(0, 40, 50)]);
  });

  it('places a character range of a passage on the boxes of the words it covers', () => {
    const text = 'Invoice No: INV-1\nTotal Due 745.80';
    const words = ['Invoice', 'No:', 'INV-1', 'Total', 'Due', '745.80'];
    const boxes = [box(0, 0, 60), box(64, 0, 24), box(92, 0, 40), box(0, 20, 40), box(44, 20, 30), box(200, 20, 50)];
    const page = {
      number: 1,
      width: 300,
      height: 100,
      text,
      words: words.map((w, i) => ({ text: w, box: boxes[i]!, confidence: 90 })),
    } as unknown as Page;
    const chunk = { ordinal: 0, page: 1, text: text.slice(18), start: 18, end: text.length, boxes: [box(0, 20, 250)] } as Chunk;
    // "Total Due" within the passage "Total Due 745.80": two words on one line, one band.
    assert.deepEqual(boxesForRange(page, chunk, 0, 9), [box(0, 20, 74)]);
    // "745.80" is far along the line: its own box.
    assert.deepEqual(boxesForRange(page, chunk, 10, 16), [box(200, 20, 50)]);
  });
});
