import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppError } from '@quire/kernel';
import { parseSroieBoxes, readSroieDataset, sroieReferenceText } from './sroie.ts';

test('boxes CSV: eight coordinates, then a transcript that may hold commas', () => {
  const lines = parseSroieBoxes(
    '72,25,326,25,326,64,72,64,TAN WOON YANN\r\n110,144,383,144,383,163,110,163,NO.53 55,57 & 59, JALAN SAGU 18,\r\n\r\n',
  );
  assert.deepEqual(lines, [
    { quad: [72, 25, 326, 25, 326, 64, 72, 64], text: 'TAN WOON YANN' },
    { quad: [110, 144, 383, 144, 383, 163, 110, 163], text: 'NO.53 55,57 & 59, JALAN SAGU 18,' },
  ]);
  assert.equal(sroieReferenceText(lines), 'TAN WOON YANN\nNO.53 55,57 & 59, JALAN SAGU 18,');
});

test('boxes CSV: a malformed row is refused with its row number', () => {
  assert.throws(
    () => parseSroieBoxes('1,2,3,4,5,6,7,8,OK\n1,2,3,4,five,6,7,8,BAD', 'x.csv'),
    (error: unknown) => error instanceof AppError && error.code === 'GROUND_TRUTH_INVALID' && /x\.csv, row 2/.test(error.message),
  );
  assert.throws(() => parseSroieBoxes('1,2,3,4,5,6,7,8'), /row 1/);
});

test('dataset: images in name order with their ground truth; each missing part has its code', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'quire-sroie-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const code = async (promise: Promise<unknown>): Promise<string | undefined> =>
    promise.then(
      () => undefined,
      (error: unknown) => (error instanceof AppError ? error.code : String(error)),
    );

  assert.equal(await code(readSroieDataset(join(dir, 'absent'))), 'DATASET_NOT_FOUND');
  assert.equal(await code(readSroieDataset(dir)), 'DATASET_NO_IMAGES');
  await mkdir(join(dir, 'images'));
  await mkdir(join(dir, 'boxes'));
  await writeFile(join(dir, 'images', 'b.png'), '');
  await writeFile(join(dir, 'images', 'a.jpg'), '');
  await writeFile(join(dir, 'images', 'notes.txt'), '');
  await writeFile(join(dir, 'boxes', 'a.csv'), '0,0,1,0,1,1,0,1,FIRST, LINE\n0,2,1,2,1,3,0,3,SECOND\n');
  assert.equal(await code(readSroieDataset(dir)), 'GROUND_TRUTH_MISSING');

  const [first] = await readSroieDataset(dir, { limit: 1 });
  assert.equal(first?.id, 'a');
  assert.equal(first?.imagePath, join(dir, 'images', 'a.jpg'));
  assert.equal(first?.reference, 'FIRST, LINE\nSECOND');

  await writeFile(join(dir, 'boxes', 'b.csv'), '');
  const pages = await readSroieDataset(dir);
  assert.deepEqual(
    pages.map((p) => [p.id, p.reference]),
    [
      ['a', 'FIRST, LINE\nSECOND'],
      ['b', ''],
    ],
  );
});
