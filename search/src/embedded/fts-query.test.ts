import { test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { MAX_QUERY_TERMS, parseTextQuery } from '../text-query.ts';
import { allTermsExpression, matchExpression, phraseExpression } from './fts-query.ts';

test('words are split like unicode61, deduplicated, stopwords dropped from the OR list only', () => {
  assert.equal(parseTextQuery(''), null);
  assert.equal(parseTextQuery(' "*-()^: '), null);
  const none = { prefixes: [], required: [] };
  assert.deepEqual(parseTextQuery('NEAR(report'), { ...none, terms: ['NEAR', 'report'], phrase: ['NEAR', 'report'] });
  assert.deepEqual(parseTextQuery('terms of the Payment, payment'), {
    ...none,
    terms: ['terms', 'payment'],
    phrase: ['terms', 'of', 'the', 'Payment', 'payment'],
  });
  assert.deepEqual(parseTextQuery('of the'), { ...none, terms: ['of', 'the'], phrase: ['of', 'the'] }, 'all stopwords: keep them');
  assert.deepEqual(parseTextQuery('résumé'), { ...none, terms: ['résumé'], phrase: null });
  const long = parseTextQuery(Array.from({ length: 50 }, (_, i) => `w${i}`).join(' '));
  assert.equal(long?.terms.length, MAX_QUERY_TERMS);
  assert.equal(long?.phrase, null, 'a truncated query is not the user’s phrase');
});

test('quotes make required phrases and a trailing * a prefix; nothing else is syntax', () => {
  assert.deepEqual(parseTextQuery('"late payment" of invoic* a*'), {
    terms: ['late', 'payment'],
    prefixes: ['invoic'],
    required: [['late', 'payment']],
    phrase: ['late', 'payment', 'of', 'invoic', 'a'],
  });
  assert.deepEqual(parseTextQuery('the inv*'), { terms: [], prefixes: ['inv'], required: [], phrase: ['the', 'inv'] });
  assert.deepEqual(parseTextQuery('"late payment')?.required, [], 'an unpaired quote is a separator');
  assert.deepEqual(parseTextQuery('“a b” "c"')?.required, [['a', 'b'], ['c']]);
  const q = parseTextQuery('"late fee" pay*')!;
  assert.equal(
    matchExpression(3, q),
    'team_key : "3" AND {title body} : ("late fee pay" OR "late" OR "fee" OR "pay" *) AND {title body} : "late fee"',
  );
  assert.equal(allTermsExpression(null, q), '{title body} : ("late" AND "fee" AND "pay" *) AND {title body} : "late fee"');
  assert.equal(allTermsExpression(3, q), 'team_key : "3" AND {title body} : ("late" AND "fee" AND "pay" *) AND {title body} : "late fee"');
});

test('expressions quote every word and confine it to title and body of one team', () => {
  const q = parseTextQuery('late "payment')!;
  assert.equal(matchExpression(7, q), 'team_key : "7" AND {title body} : ("late payment" OR "late" OR "payment")');
  assert.equal(phraseExpression(7, q), 'team_key : "7" AND {title body} : "late payment"');
  assert.equal(phraseExpression(7, parseTextQuery('late')!), null);
});

test('no input makes FTS5 fail to parse', () => {
  const db = new Database(':memory:');
  try {
    db.exec("CREATE VIRTUAL TABLE f USING fts5(team_key, title, body, tokenize = 'porter unicode61 remove_diacritics 2')");
    db.prepare('INSERT INTO f (rowid, team_key, title, body) VALUES (1, 1, ?, ?)').run('AND OR NOT NEAR', 'the "quoted" * - ^ : report');
    const match = db.prepare('SELECT rowid FROM f WHERE f MATCH ?');
    const alphabet = [
      '"',
      "'",
      '*',
      '-',
      '+',
      '^',
      ':',
      '(',
      ')',
      '{',
      '}',
      ' ',
      'AND',
      'OR',
      'NOT',
      'NEAR',
      'a',
      'é',
      '̈',
      '東',
      '😀',
      '\u0000',
      '\\',
      ',',
      '.',
      'team_key',
      'title',
    ];
    let seed = 1;
    const next = (): number => (seed = (Math.imul(seed, 48271) >>> 0) % 2147483647) / 2147483647;
    for (let i = 0; i < 3000; i++) {
      const text = Array.from({ length: 1 + Math.floor(next() * 12) }, () => alphabet[Math.floor(next() * alphabet.length)]).join('');
      const q = parseTextQuery(text);
      if (!q) continue;
      for (const expr of [matchExpression(1, q), phraseExpression(1, q)]) {
        if (expr) assert.doesNotThrow(() => match.all(expr), `${JSON.stringify(text)} → ${expr}`);
      }
    }
  } finally {
    db.close();
  }
});
