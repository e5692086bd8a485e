import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bagOfWords, characterErrorRate, editDistance, normalizeWhitespace, scoreCorpus, scorePage, wordErrorRate } from './ocr-metrics.ts';

const close = (actual: number, expected: number): void => assert.ok(Math.abs(actual - expected) < 1e-12, `${actual} ≠ ${expected}`);

test('whitespace: runs of any whitespace become one space, ends are trimmed', () => {
  assert.equal(normalizeWhitespace('  TOTAL \n\n\t 10.00  \r\n'), 'TOTAL 10.00');
  assert.equal(normalizeWhitespace(' \n '), '');
});

test('CER: edits over reference characters, layout whitespace ignored', () => {
  assert.deepEqual(characterErrorRate('kitten', 'sitting'), { errors: 3, referenceLength: 6, rate: 0.5 });
  assert.deepEqual(characterErrorRate('AB  C\n', 'AB\nC'), { errors: 0, referenceLength: 4, rate: 0 });
  assert.equal(characterErrorRate('abc', '').rate, 1);
});

test('CER: case counts unless ignored; code points, not UTF-16 units', () => {
  assert.deepEqual(characterErrorRate('Total', 'TOTAL'), { errors: 4, referenceLength: 5, rate: 0.8 });
  assert.equal(characterErrorRate('Total', 'TOTAL', { ignoreCase: true }).rate, 0);
  assert.deepEqual(characterErrorRate('café', 'cafe'), { errors: 1, referenceLength: 4, rate: 0.25 });
  assert.deepEqual(characterErrorRate('😀a', 'a'), { errors: 1, referenceLength: 2, rate: 0.5 });
});

test('CER edge cases: both empty is 0; an empty reference scores the insertions over 1', () => {
  assert.deepEqual(characterErrorRate('', ''), { errors: 0, referenceLength: 0, rate: 0 });
  assert.deepEqual(characterErrorRate(' \n', 'abc'), { errors: 3, referenceLength: 0, rate: 3 });
});

test('WER: word edits over reference words', () => {
  // "sat" → "sit" is a substitution and the second "the" a deletion.
  assert.deepEqual(wordErrorRate('the cat sat on the mat', 'the cat sit on mat'), { errors: 2, referenceLength: 6, rate: 2 / 6 });
  assert.deepEqual(wordErrorRate('NO.53 55,57 &\n59,', 'NO.53 55,57 & 59,'), { errors: 0, referenceLength: 4, rate: 0 });
  assert.equal(wordErrorRate('Cash CHANGE', 'CASH change').rate, 1);
  assert.equal(wordErrorRate('Cash CHANGE', 'CASH change', { ignoreCase: true }).rate, 0);
  assert.deepEqual(wordErrorRate('', ''), { errors: 0, referenceLength: 0, rate: 0 });
  assert.deepEqual(wordErrorRate('', 'a b'), { errors: 2, referenceLength: 0, rate: 2 });
  assert.deepEqual(wordErrorRate('a b', ''), { errors: 2, referenceLength: 2, rate: 1 });
});

test('bag of words: multisets, case-insensitive by default', () => {
  const score = bagOfWords('TOTAL 10.00\nTOTAL CASH', 'total 10.00 cash change');
  assert.deepEqual(score, { matched: 3, referenceWords: 4, hypothesisWords: 4, precision: 0.75, recall: 0.75, f1: 0.75 });
  const sensitive = bagOfWords('TOTAL 10.00\nTOTAL CASH', 'total 10.00 cash change', { ignoreCase: false });
  assert.equal(sensitive.matched, 1);
  // A word counts at most as often as the reference holds it.
  const repeated = bagOfWords('a a b', 'a a a');
  assert.equal(repeated.matched, 2);
  close(repeated.precision, 2 / 3);
  close(repeated.recall, 2 / 3);
  close(repeated.f1, 2 / 3);
});

test('bag of words edge cases: both empty agree fully; one side empty scores 0', () => {
  assert.deepEqual(bagOfWords('', ' '), { matched: 0, referenceWords: 0, hypothesisWords: 0, precision: 1, recall: 1, f1: 1 });
  assert.deepEqual(bagOfWords('a b', ''), { matched: 0, referenceWords: 2, hypothesisWords: 0, precision: 0, recall: 0, f1: 0 });
  assert.deepEqual(bagOfWords('', 'a b'), { matched: 0, referenceWords: 0, hypothesisWords: 2, precision: 0, recall: 0, f1: 0 });
});

test('edit distance of token sequences, beyond the tokens that fit in code units too', () => {
  assert.equal(editDistance(['a', 'b', 'c'], ['a', 'c']), 1);
  assert.equal(editDistance([], ['x', 'y']), 2);
  // 70 000 distinct tokens exceed the code units available, so the hand-written programme runs:
  // w0 matches, x replaces one token and the other 69 998 are deleted.
  const many = Array.from({ length: 70_000 }, (_, i) => `w${i}`);
  assert.equal(editDistance(many, ['w0', 'x']), 69_999);
});

test('corpus: micro sums beside the mean of pages', () => {
  const pages = [scorePage('abcd', 'abcd'), scorePage('a b c', 'a x')];
  // Page 2: "a b c" → "a x" is b→x and two deletions: 3 of 5 characters; words: b→x, c deleted.
  assert.deepEqual(pages[1]!.cer, { errors: 3, referenceLength: 5, rate: 0.6 });
  assert.deepEqual(pages[1]!.wer, { errors: 2, referenceLength: 3, rate: 2 / 3 });
  const corpus = scoreCorpus(pages);
  assert.equal(corpus.pages, 2);
  assert.deepEqual(corpus.cer, { errors: 3, referenceLength: 9, rate: 3 / 9 });
  close(corpus.mean.cer, 0.3);
  assert.deepEqual(corpus.wer, { errors: 2, referenceLength: 4, rate: 0.5 });
  close(corpus.mean.wer, 1 / 3);
  // Matched 1 + 1 of 1 + 3 reference and 1 + 2 hypothesis words.
  close(corpus.bagOfWords.precision, 2 / 3);
  close(corpus.bagOfWords.recall, 1 / 2);
  close(corpus.bagOfWords.f1, 4 / 7);
  // Page F1s are 1 and 2·(1/2)·(1/3) / (1/2 + 1/3) = 0.4.
  close(corpus.mean.f1, 0.7);
});

test('an empty corpus has zero rates and no means', () => {
  const corpus = scoreCorpus([]);
  assert.equal(corpus.pages, 0);
  assert.equal(corpus.cer.rate, 0);
  assert.equal(corpus.bagOfWords.f1, 1);
  assert.ok(Number.isNaN(corpus.mean.f1));
});
