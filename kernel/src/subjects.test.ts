import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Events, Queues, Subjects, assertSubject, documentEventKind, subjectMatches } from './subjects.ts';

describe('subject matching', () => {
  const cases: Array<[string, string, boolean]> = [
    ['a.b.c', 'a.b.c', true],
    ['a.b.c', 'a.b', false],
    ['a.b', 'a.b.c', false],
    ['a.*.c', 'a.b.c', true],
    ['a.*.c', 'a.b.d', false],
    ['a.*', 'a.b.c', false],
    ['a.>', 'a.b.c', true],
    ['a.>', 'a.b', true],
    ['a.>', 'a', false],
    ['>', 'a', true],
    ['*', 'a.b', false],
    ['*.*.c', 'x.y.c', true],
    ['events.*.document.*', 'events.t1.document.processed', true],
    ['events.*.document.*', 'events.t1.job.progressed', false],
  ];
  for (const [pattern, subject, expected] of cases) {
    it(`${pattern} ${expected ? 'matches' : 'does not match'} ${subject}`, () => {
      assert.equal(subjectMatches(pattern, subject), expected);
    });
  }
});

describe('subject syntax', () => {
  it('accepts safe tokens and wildcards only where allowed', () => {
    assert.equal(assertSubject('events.3f2a9c1e-7b7d-4c1f-9e0a-1b2c3d4e5f60.document.queued', { wildcards: false }).length > 0, true);
    assert.equal(assertSubject('events.*.document.>', { wildcards: true }), 'events.*.document.>');
    for (const bad of ['', 'a..b', '.a', 'a.', 'a b', 'a.*', 'a.>', 'é.b', 'a\nb']) {
      assert.throws(() => assertSubject(bad, { wildcards: false }), { code: 'INVALID_SUBJECT' }, bad);
    }
    for (const bad of ['a.>.b', 'a.b*', 'a.**', '>x']) {
      assert.throws(() => assertSubject(bad, { wildcards: true }), { code: 'INVALID_SUBJECT' }, bad);
    }
  });

  it('puts the team in the second token of every event subject and refuses unsafe team ids', () => {
    assert.equal(Events.DocumentProcessed.subject('team-1'), 'events.team-1.document.processed');
    assert.equal(Events.JobProgressed.subject('team_2'), 'events.team_2.job.progressed');
    assert.equal(Events.DocumentFailed.pattern(), 'events.*.document.failed');
    assert.equal(Events.DocumentFailed.pattern('t'), 'events.t.document.failed');
    assert.equal(Subjects.teamFeed('t'), 'events.t.>');
    assert.ok(subjectMatches(Subjects.teamFeed('t'), Events.JobProgressed.subject('t')));
    assert.ok(subjectMatches(Subjects.allDocumentEvents, Events.DocumentDeleted.subject('t')));
    assert.ok(!subjectMatches(Subjects.allDocumentEvents, Events.JobProgressed.subject('t')));
    assert.equal(Subjects.deadLetter(Queues.DocumentProcess.name), 'dead-letter.document.process');
    assert.ok(subjectMatches(Subjects.allDeadLetters, Subjects.deadLetter('document.process')));
    for (const bad of ['a.b', '*', '>', 'a b', '', 'x'.repeat(129)]) {
      assert.throws(() => Events.DocumentQueued.subject(bad), { code: 'INVALID_SUBJECT' }, bad);
    }
    assert.equal(documentEventKind('events.t.document.processed'), 'processed');
    assert.equal(documentEventKind('events.t.job.progressed'), undefined);
  });
});
