/**
 * Team label sets against a real hub and the real classifier: an owner adds a document type,
 * and its description classifies the team's meeting minutes (which the default types take for
 * something else) on upload and on re-classification; names and descriptions are validated
 * with clear codes; removing a label leaves people's labels on documents but takes it out of
 * the set, and a team keeps at least one label of each kind; both changes are audited; another
 * team keeps its own labels; only owners change them.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { bearer, gql, startHub, uploadProcessed, type HubProcess } from './helpers/hub.ts';

const PASSWORD = 'correct horse battery staple';
const MINUTES_TYPE = 'meeting minutes';
const MINUTES_DESCRIPTION =
  'Meeting minutes: the written record of a meeting, with who was present, apologies, the items discussed, what was agreed and the actions for each person.';
const FIRST_MINUTES =
  'Minutes of the tenants committee meeting, 14 October. Present: the chair, the secretary and five tenants. Apologies from Mrs Okafor. The minutes of the previous meeting were agreed. Items discussed: bin storage, the broken entrance door, the garden rota. Action: the secretary to write to the landlord about the door.';
const SECOND_MINUTES =
  'Minutes of the allotment society meeting held on 2 November. Attendees: twelve members and the treasurer. The accounts were approved. Agreed: the water tanks will be repaired before spring. Actions: Mr Byrne to order the new padlocks; the treasurer to collect the rents.';
const SET = `types { name description } sensitivities { name description }`;

let hub: HubProcess;
let firstMinutes = '';

const codeOf = (res: { errors?: any[] }) => res.errors?.[0]?.extensions?.code;

const upload = (name: string, text: string): Promise<string> =>
  uploadProcessed(hub, { name, data: new TextEncoder().encode(`${text}\n`) }, 120_000);

async function typeOf(id: string): Promise<{ type: string; classified: string; override: string | null }> {
  const res = await hub.gql(`query($id: ID!) { document(id: $id) { type classification { type { label } } typeOverride { label } } }`, {
    id,
  });
  assert.equal(res.errors, undefined, JSON.stringify(res.errors));
  const d = res.data.document;
  return { type: d.type, classified: d.classification.type.label, override: d.typeOverride?.label ?? null };
}

const addLabel = (kind: string, name: string, description: string) =>
  hub.gql(`mutation($k: LabelKind!, $n: String!, $d: String!) { addLabel(kind: $k, name: $n, description: $d) { ${SET} } }`, {
    k: kind,
    n: name,
    d: description,
  });
const removeLabel = (kind: string, name: string) =>
  hub.gql(`mutation($k: LabelKind!, $n: String!) { removeLabel(kind: $k, name: $n) { ${SET} } }`, { k: kind, n: name });

before(async () => {
  // With open sign-up, a newcomer owns a team of their own: the other team.
  hub = await startHub({ seedOwner: true, env: { OPEN_SIGNUP: 'true' } });
  firstMinutes = await upload('tenants-minutes.txt', FIRST_MINUTES);
});

after(async () => {
  await hub?.stop();
});

describe('team label sets', () => {
  test("an added type's description classifies new documents and, re-classified, earlier ones", { timeout: 240_000 }, async (t) => {
    const before = await typeOf(firstMinutes);
    t.diagnostic(`with the default types the minutes are a ${before.classified}`);
    assert.notEqual(before.classified, MINUTES_TYPE);

    const added = await addLabel('TYPE', MINUTES_TYPE, MINUTES_DESCRIPTION);
    assert.equal(added.errors, undefined, JSON.stringify(added.errors));
    assert.deepEqual(added.data.addLabel.types.at(-1), { name: MINUTES_TYPE, description: MINUTES_DESCRIPTION });
    const labels = await hub.gql(`{ labels { ${SET} } }`);
    assert.deepEqual(labels.data.labels, added.data.addLabel, 'Query.labels answers the team set');
    assert.ok(
      labels.data.labels.types.some((l: { name: string }) => l.name === 'invoice'),
      'the defaults stay',
    );

    const second = await upload('allotment-minutes.txt', SECOND_MINUTES);
    assert.equal((await typeOf(second)).classified, MINUTES_TYPE, 'classified by the new description on upload');

    const reclassified = await hub.gql(`mutation { reclassifyDocuments { documents changed } }`);
    assert.equal(reclassified.errors, undefined, JSON.stringify(reclassified.errors));
    assert.equal((await typeOf(firstMinutes)).classified, MINUTES_TYPE, 'and the earlier minutes on re-classification');
    const filtered = await hub.gql(`query($t: [String!]) { documents(filter: { types: $t }) { totalCount } }`, { t: [MINUTES_TYPE] });
    assert.equal(filtered.data.documents.totalCount, 2);
  });

  test('refuses bad names and descriptions, names in use (any case, either kind) and callers who are not owners', async () => {
    for (const name of ['', '   ', '#minutes', '-minutes', 'x'.repeat(61), 'line\nbreak']) {
      assert.equal(codeOf(await addLabel('TYPE', name, 'A description.')), 'BAD_LABEL_NAME', JSON.stringify(name));
    }
    for (const description of ['', '  ', 'd'.repeat(501)]) {
      assert.equal(codeOf(await addLabel('TYPE', 'delivery note', description)), 'BAD_LABEL_DESCRIPTION');
    }
    const taken = await addLabel('TYPE', 'INVOICE', 'Another invoice.');
    assert.equal(codeOf(taken), 'LABEL_EXISTS');
    assert.equal(taken.errors?.[0]?.extensions?.details?.name, 'invoice');
    assert.equal(codeOf(await addLabel('TYPE', 'public', 'A sensitivity name as a type.')), 'LABEL_EXISTS');
    assert.equal(codeOf(await addLabel('SENSITIVITY', 'Meeting Minutes', 'A type name as a sensitivity.')), 'LABEL_EXISTS');
    // Surrounding spaces are not part of a name.
    const trimmed = await addLabel('TYPE', '  delivery note ', ' A note that comes with delivered goods, listing what was sent. ');
    assert.deepEqual(trimmed.data.addLabel.types.at(-1), {
      name: 'delivery note',
      description: 'A note that comes with delivered goods, listing what was sent.',
    });

    const invitation = await hub.gql(`mutation { createInvitation(role: EDITOR) { token } }`);
    const editor = await gql(hub.url, `mutation($i: SignUpInput!) { signUp(input: $i) { accessToken } }`, {
      i: { email: 'editor@example.org', password: PASSWORD, invitationToken: invitation.data.createInvitation.token },
    });
    const asEditor = await gql(
      hub.url,
      `mutation { addLabel(kind: TYPE, name: "memo", description: "A memo.") { types { name } } }`,
      {},
      bearer(editor.data.signUp.accessToken),
    );
    assert.equal(codeOf(asEditor), 'FORBIDDEN');
  });

  test("removing a label keeps people's labels on documents but leaves the set; the last of a kind stays", async () => {
    const set = await hub.gql(`mutation($d: ID!, $l: String) { setDocumentLabel(documentId: $d, kind: TYPE, label: $l) { id } }`, {
      d: firstMinutes,
      l: MINUTES_TYPE,
    });
    assert.equal(set.errors, undefined, JSON.stringify(set.errors));

    const removed = await removeLabel('TYPE', MINUTES_TYPE);
    assert.equal(removed.errors, undefined, JSON.stringify(removed.errors));
    assert.ok(!removed.data.removeLabel.types.some((l: { name: string }) => l.name === MINUTES_TYPE));
    assert.deepEqual(await typeOf(firstMinutes), { type: MINUTES_TYPE, classified: MINUTES_TYPE, override: MINUTES_TYPE });
    const again = await hub.gql(`mutation($d: ID!, $l: String) { setDocumentLabel(documentId: $d, kind: TYPE, label: $l) { id } }`, {
      d: firstMinutes,
      l: MINUTES_TYPE,
    });
    assert.equal(codeOf(again), 'UNKNOWN_LABEL', 'no longer offered');
    assert.equal(codeOf(await removeLabel('TYPE', MINUTES_TYPE)), 'UNKNOWN_LABEL');
    assert.equal(codeOf(await removeLabel('SENSITIVITY', 'invoice')), 'UNKNOWN_LABEL', 'a name of the other kind');

    const sensitivities = (await hub.gql(`{ labels { sensitivities { name } } }`)).data.labels.sensitivities.map(
      (l: { name: string }) => l.name,
    );
    for (const name of sensitivities.slice(1)) assert.equal((await removeLabel('SENSITIVITY', name)).errors, undefined);
    const last = await removeLabel('SENSITIVITY', sensitivities[0]);
    assert.equal(codeOf(last), 'LAST_LABEL');
    assert.deepEqual((await hub.gql(`{ labels { sensitivities { name } } }`)).data.labels.sensitivities, [{ name: sensitivities[0] }]);
  });

  test("both changes are audited, and another team's labels are its own", async () => {
    const log = await hub.gql(`{ auditLog(first: 100) { action actor { email } targetType targetId details } }`);
    assert.equal(log.errors, undefined, JSON.stringify(log.errors));
    const entries = log.data.auditLog as { action: string; actor: { email: string }; targetType: string; targetId: string; details: any }[];
    const added = entries.find((e) => e.action === 'label.added' && e.targetId === `type:${MINUTES_TYPE}`);
    assert.ok(added, JSON.stringify(entries.map((e) => e.action)));
    assert.deepEqual(
      [added.actor.email, added.targetType, added.details],
      ['owner@example.org', 'label', { kind: 'type', name: MINUTES_TYPE, description: MINUTES_DESCRIPTION }],
    );
    const removed = entries.find((e) => e.action === 'label.removed' && e.targetId === `type:${MINUTES_TYPE}`);
    assert.deepEqual(removed?.details, { kind: 'type', name: MINUTES_TYPE, description: MINUTES_DESCRIPTION });
    assert.equal(entries.filter((e) => e.action === 'label.removed').length, 4, 'the type and three sensitivities');

    const outsider = await gql(hub.url, `mutation($i: SignUpInput!) { signUp(input: $i) { accessToken } }`, {
      i: { email: 'outsider@example.org', password: PASSWORD },
    });
    const theirs = await gql(hub.url, `{ labels { ${SET} } }`, {}, bearer(outsider.data.signUp.accessToken));
    assert.ok(!theirs.data.labels.types.some((l: { name: string }) => l.name === 'delivery note'));
    assert.equal(theirs.data.labels.sensitivities.length, 4, 'the default sensitivities');
  });
});
