/**
 * Matches against a real hub and the real pipeline: a rescanned invoice is proposed as a
 * duplicate of the first scan, with similar passages as evidence; an invoice and the purchase
 * order it names are matched by a team rule, with the compared fields as evidence; two people
 * resolving one match at once get one winner and one CONFLICT naming who resolved it how.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { io, type Socket } from 'socket.io-client';
import { ensureFixtures } from './fixtures/generate.ts';
import { fixturePath } from './fixtures/manifest.ts';
import { gql, startHub, uploadProcessed, waitFor, type HubProcess } from './helpers/hub.ts';

const PASSWORD = 'correct horse battery staple';
let hub: HubProcess;
let editorToken = '';
const ids: Record<string, string> = {};
const idOf = (name: string): string => ids[name] ?? assert.fail(`no ${name} yet`);
const sockets: Socket[] = [];

const MATCH_FIELDS = `id kind status version score documentAId documentBId canonicalDocumentId resolvedBy
  passages { chunkA pageA textA chunkB pageB textB similarity } fields { fieldA fieldB valueA valueB comparison } rule { name }`;

async function uploadFixture(name: string): Promise<string> {
  return uploadProcessed(hub, { name, data: new Uint8Array(await readFile(fixturePath(name))) }, 180_000);
}

async function matchesOf(documentId: string): Promise<any[]> {
  const res = await hub.gql(`query($d: ID) { matches(documentId: $d) { ${MATCH_FIELDS} } }`, { d: documentId });
  assert.equal(res.errors, undefined, JSON.stringify(res.errors));
  return res.data.matches;
}

before(async () => {
  await ensureFixtures();
  hub = await startHub({ seedOwner: true });
  const invitation = await hub.gql(`mutation { createInvitation(role: EDITOR) { token } }`);
  const signUp = await gql(hub.url, `mutation($input: SignUpInput!) { signUp(input: $input) { accessToken } }`, {
    input: { email: 'ed@example.org', password: PASSWORD, invitationToken: invitation.data.createInvitation.token },
  });
  editorToken = signUp.data.signUp.accessToken;
});

after(async () => {
  for (const s of sockets) s.disconnect();
  await hub?.stop();
});

describe('matches', () => {
  test('a rescanned invoice is proposed as a duplicate of the first scan, with similar passages', { timeout: 400_000 }, async (t) => {
    ids.first = await uploadFixture('scanned-invoice.png');
    ids.report = await uploadFixture('text-report.pdf');
    ids.rescan = await uploadFixture('rescanned-invoice.jpg');
    const found = await matchesOf(ids.rescan);
    t.diagnostic(
      `proposed for the rescan: ${found.map((m) => `${m.kind} ${m.score} (best passage ${m.passages[0]?.similarity})`).join(', ')}`,
    );
    const duplicate = found.find((m) => m.kind === 'DUPLICATE');
    assert.ok(duplicate, `a duplicate was proposed: ${JSON.stringify(found.map((m) => [m.kind, m.score]))}`);
    assert.deepEqual(
      [duplicate.documentAId, duplicate.documentBId, duplicate.status, duplicate.version],
      [ids.first, ids.rescan, 'OPEN', 1],
    );
    assert.ok(duplicate.score >= 0.95, `document similarity ${duplicate.score}`);
    assert.ok(duplicate.passages.length > 0);
    assert.ok(duplicate.passages[0].similarity >= 0.9);
    assert.match(duplicate.passages.map((p: { textA: string }) => p.textA).join(' '), /INV-2024-0193|Northwind|Total/i);
    assert.ok(!found.some((m) => m.documentAId === ids.report || m.documentBId === ids.report), 'the unrelated report is not matched');
    ids.duplicate = duplicate.id;
  });

  test('an invoice and the purchase order it names are matched by a team rule, fields as evidence', { timeout: 400_000 }, async () => {
    const rule = await hub.gql(
      `mutation($input: MatchRuleInput!) { createMatchRule(input: $input) { id name typeA typeB conditions { fieldA fieldB comparison tolerance } } }`,
      {
        input: {
          name: 'Invoice to purchase order',
          typeA: 'invoice',
          typeB: 'purchase order',
          conditions: [
            { fieldA: 'orderNumber', fieldB: 'number', comparison: 'EQUALS' },
            { fieldA: 'total', fieldB: 'total', comparison: 'AMOUNT_WITHIN', tolerance: 0.01 },
          ],
        },
      },
    );
    assert.equal(rule.errors, undefined, JSON.stringify(rule.errors));
    const bad = await hub.gql(`mutation($input: MatchRuleInput!) { createMatchRule(input: $input) { id } }`, {
      input: {
        name: 'x',
        typeA: 'invoice',
        typeB: 'no such type',
        conditions: [{ fieldA: 'number', fieldB: 'number', comparison: 'EQUALS' }],
      },
    });
    assert.equal(bad.errors?.[0]?.extensions?.code, 'UNKNOWN_LABEL');

    ids.order = await uploadFixture('scanned-order.pdf');
    ids.invoice = await uploadFixture('scanned-invoice-for-order.png');
    const found = (await matchesOf(ids.invoice)).filter((m) => m.kind === 'RULE');
    assert.equal(found.length, 1, JSON.stringify(found));
    const [match] = found;
    assert.deepEqual([match.documentAId, match.documentBId, match.rule.name], [ids.invoice, ids.order, 'Invoice to purchase order']);
    assert.deepEqual(
      match.fields.map((f: Record<string, string>) => [f.fieldA, f.fieldB, f.comparison]),
      [
        ['orderNumber', 'number', 'EQUALS'],
        ['total', 'total', 'AMOUNT_WITHIN'],
      ],
    );
    assert.equal(match.fields[0].valueA, 'PO-55812');
    assert.equal(match.fields[0].valueB, 'PO-55812');
    assert.match(match.fields[1].valueA, /413\.00/);
    // The first invoice names no order: no rule match for it.
    assert.ok(!(await matchesOf(idOf('first'))).some((m) => m.kind === 'RULE'));
  });

  test('two people resolving one match at once: one wins, the other gets CONFLICT with who and how', { timeout: 60_000 }, async () => {
    // A reviewer in the match review session sees the resolution live.
    const reviewer = io(`${hub.url}/collab`, { transports: ['websocket'], auth: { token: hub.ownerToken } });
    sockets.push(reviewer);
    const joined = await reviewer.timeout(10_000).emitWithAck('review:join', {});
    assert.ok(joined.ok, JSON.stringify(joined));
    const seen: any[] = [];
    reviewer.on('match', (e) => seen.push(e));

    const resolve = (token: string | null, decision: string) =>
      gql(
        hub.url,
        `mutation($id: ID!, $d: MatchDecision!, $c: ID) { resolveMatch(id: $id, decision: $d, baseVersion: 1, canonicalDocumentId: $c) { status version resolvedBy canonicalDocumentId } }`,
        { id: ids.duplicate, d: decision, c: decision === 'CONFIRM' ? ids.first : null },
        token ? { authorization: `Bearer ${token}` } : hub.ownerAuth,
      );
    const [confirm, reject] = await Promise.all([resolve(null, 'CONFIRM'), resolve(editorToken, 'REJECT')]);
    const answers = [confirm, reject];
    const winners = answers.filter((a) => !a.errors);
    const losers = answers.filter((a) => a.errors);
    assert.equal(winners.length, 1, JSON.stringify(answers));
    assert.equal(losers.length, 1);
    const conflict = losers[0]!.errors![0];
    assert.equal(conflict.extensions.code, 'CONFLICT');
    const won = winners[0]!.data.resolveMatch;
    assert.equal(conflict.extensions.details.current.status, won.status.toLowerCase(), 'the refusal says how it was resolved');
    assert.equal(conflict.extensions.details.current.resolvedBy, won.resolvedBy, 'and by whom');
    assert.match(conflict.message, /by (owner|ed)@example\.org/);

    await waitFor(async () => seen.some((e) => e.action === 'resolved' && e.matchId === ids.duplicate), 10_000, 'the reviewer saw it');
    const audit = await hub.gql(`{ auditLog(first: 20) { action targetId } }`);
    assert.ok(
      audit.data.auditLog.some((e: { action: string; targetId: string }) => e.action === 'match.resolved' && e.targetId === ids.duplicate),
    );

    // Whoever won, confirming makes a matched set with the first scan kept.
    const current = (await hub.gql(`query($id: ID!) { match(id: $id) { status version } }`, { id: ids.duplicate })).data.match;
    if (current.status !== 'CONFIRMED') {
      const again = await resolve(null, 'CONFIRM');
      assert.ok(again.errors?.[0]?.extensions?.code === 'CONFLICT', 'base version 1 is stale now');
      const fresh = await hub.gql(
        `mutation($id: ID!, $v: Int!, $c: ID) { resolveMatch(id: $id, decision: CONFIRM, baseVersion: $v, canonicalDocumentId: $c) { status } }`,
        { id: ids.duplicate, v: current.version, c: ids.first },
      );
      assert.equal(fresh.errors, undefined, JSON.stringify(fresh.errors));
    }
    const sets = await hub.gql(`{ matchedSets { documentIds canonicalDocumentId documents { id } } }`);
    assert.equal(sets.errors, undefined, JSON.stringify(sets.errors));
    assert.deepEqual(sets.data.matchedSets, [
      {
        documentIds: [ids.first, ids.rescan].sort(),
        canonicalDocumentId: ids.first,
        documents: [ids.first, ids.rescan].sort().map((id) => ({ id })),
      },
    ]);
  });

  test('presence in the match review shows who looks at which match', { timeout: 30_000 }, async () => {
    const a = io(`${hub.url}/collab`, { transports: ['websocket'], auth: { token: hub.ownerToken } });
    const b = io(`${hub.url}/collab`, { transports: ['websocket'], auth: { token: editorToken } });
    sockets.push(a, b);
    const entries = new Map<string, any>();
    a.on('presence', (p) => (p.action === 'leave' ? entries.delete(p.entry.connectionId) : entries.set(p.entry.connectionId, p.entry)));
    assert.ok((await a.timeout(10_000).emitWithAck('review:join', {})).ok);
    assert.ok((await b.timeout(10_000).emitWithAck('review:join', {})).ok);
    assert.ok((await b.timeout(10_000).emitWithAck('presence', { review: true, matchId: ids.duplicate })).ok);
    await waitFor(async () => entries.get(b.id!)?.matchId === ids.duplicate, 5000, 'A sees which match B looks at');
    assert.equal(entries.get(b.id!).name, 'ed@example.org');
    const dashboard = await hub.gql(`{ presence { name matchId } }`);
    assert.ok(
      dashboard.data.presence.some((e: { name: string; matchId: string }) => e.name === 'ed@example.org' && e.matchId === ids.duplicate),
    );
    const bid = b.id ?? '';
    assert.ok(bid);
    b.disconnect();
    await waitFor(async () => !entries.has(bid), 5000, 'B gone');
  });
});
