import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SNIPPET_CHARS, buildSnippet, rangesFromMarkup } from './snippet.ts';

const marked = (snippet: string, ranges: Array<{ start: number; end: number }>): string[] =>
  ranges.map((r) => snippet.slice(r.start, r.end));

test('a short chunk is its own snippet', () => {
  assert.deepEqual(buildSnippet('a small invoice', [{ start: 8, end: 15 }]), {
    snippet: 'a small invoice',
    highlights: [{ start: 8, end: 15 }],
  });
});

test('the window lands on the densest cluster, cut at word boundaries', () => {
  const words = (n: number): string => Array.from({ length: n }, (_, i) => `filler${i % 10}`).join(' ');
  const text = `lone match here ${words(60)} first match and second match and third match ${words(60)}`;
  const ranges = [...text.matchAll(/match/g)].map((m) => ({ start: m.index, end: m.index + 5 }));
  const { snippet, highlights } = buildSnippet(text, ranges);
  assert.ok(snippet.length <= SNIPPET_CHARS + 2, `${snippet.length}`);
  assert.ok(snippet.startsWith('…') && snippet.endsWith('…'));
  assert.ok(snippet.includes('first match and second match and third match'));
  assert.deepEqual(marked(snippet, highlights), ['match', 'match', 'match']);
  assert.match(snippet, /^… ?filler\d/, 'starts on a whole word');
});

test('without matches the snippet is the start of the chunk', () => {
  const text = 'word '.repeat(100);
  const { snippet, highlights } = buildSnippet(text, []);
  assert.ok(snippet.startsWith('word word'));
  assert.ok(snippet.endsWith('…'));
  assert.deepEqual(highlights, []);
});

test('a window never splits a surrogate pair', () => {
  const text = '😀'.repeat(300);
  const { snippet } = buildSnippet(text, [{ start: 300, end: 302 }]);
  assert.doesNotMatch(snippet, /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/);
});

test('ranges are recovered from highlight() markup, even when the text contains the markers', () => {
  const open = '<<';
  const close = '>>';
  assert.deepEqual(rangesFromMarkup('The <<invoices>> are <<due>>.', 'The invoices are due.', open, close), [
    { start: 4, end: 12 },
    { start: 17, end: 20 },
  ]);
  const original = 'a << b invoice >> c';
  assert.deepEqual(marked(original, rangesFromMarkup('a << b <<invoice>> >> c', original, open, close)), ['invoice']);
  assert.deepEqual(rangesFromMarkup('unrelated', 'different text', open, close), [], 'misaligned markup yields no ranges');
});

test('matches apart by white space only read as one mark, whichever way an engine marked a phrase', () => {
  const text = 'Harbour rope, 12 crates of harbour  rope for the pier.';
  const words = [
    { start: 0, end: 7 },
    { start: 8, end: 12 },
    { start: 27, end: 34 },
    { start: 36, end: 40 },
  ];
  assert.deepEqual(marked(text, buildSnippet(text, words).highlights), ['Harbour rope', 'harbour  rope']);
  assert.deepEqual(marked(text, buildSnippet(text, [words[1]!, words[0]!]).highlights), ['Harbour rope'], 'in any order');
  assert.deepEqual(
    marked(text, buildSnippet(text, [words[1]!, { start: 14, end: 16 }]).highlights),
    ['rope', '12'],
    'punctuation keeps marks apart',
  );
});
