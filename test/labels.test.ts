/**
 * People's labels against a real hub and the real classifier: a type set by hand overrides the
 * classifier's for that document (and its filters), and a team's labelled documents become
 * examples, so that a document the zero-shot classifier gets wrong is classified as the team
 * labels its kind, on upload and on re-classification.
 *
 * The documents are meeting minutes, which the team files as reports. The descriptions of the
 * default types take them for letters (measured: 4 of these 5 are not `report` zero-shot).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startHub, uploadProcessed, type HubProcess } from './helpers/hub.ts';

const MINUTES = [
  'Minutes of the parish council meeting, 3 March. Present: six councillors and the clerk. Apologies from Mr Hart. The minutes of the last meeting were approved. Action: the clerk to write to the highways department about the potholes on Mill Lane.',
  'Minutes of the board meeting held on 12 April. Attendees: the chair, the treasurer and four trustees. The treasurer presented the accounts, which were approved. Action: the chair to circulate the new volunteer policy before the next meeting.',
  'Minutes of the staff meeting, 9 May. Present: all teaching staff. Items discussed: exam timetable, the summer fair, parking. Agreed: the fair will be held on 6 July. Actions: Ms Lee to book the marquee.',
];
/** The document the zero-shot classifier gets wrong. */
const NEW_MINUTES =
  'Minutes of the residents association AGM, 20 June. Thirty members attended. The committee was re-elected. Motion to raise the subscription to ten pounds carried. Action: secretary to update the membership list.';

let hub: HubProcess;
/** The new minutes, processed before the team labelled anything. */
let wrong = '';

const upload = (name: string, text: string): Promise<string> =>
  uploadProcessed(hub, { name, data: new TextEncoder().encode(`${text}\n`) }, 120_000);

async function labels(
  id: string,
): Promise<{ type: string; classification: { type: { label: string }; method: string }; typeOverride: unknown }> {
  const res = await hub.gql(
    `query($id: ID!) { document(id: $id) { type classification { type { label } method } typeOverride { label setBy setAt } } }`,
    { id },
  );
  assert.equal(res.errors, undefined, JSON.stringify(res.errors));
  return res.data.document;
}

before(async () => {
  hub = await startHub({ seedOwner: true });
  wrong = await upload('minutes-agm.txt', NEW_MINUTES);
});

after(async () => {
  await hub?.stop();
});

describe('labels set by people', () => {
  test('a label set by hand overrides the classifier for the document and its filters', { timeout: 180_000 }, async () => {
    const id = await upload('minutes-0.txt', MINUTES[0]!);
    const set = await hub.gql(
      `mutation($id: ID!) { setDocumentLabel(documentId: $id, kind: TYPE, label: "report") { type typeOverride { label setBy } } }`,
      {
        id,
      },
    );
    assert.equal(set.errors, undefined, JSON.stringify(set.errors));
    assert.equal(set.data.setDocumentLabel.type, 'report');
    const me = await hub.gql(`{ me { user { id } } }`);
    assert.deepEqual(set.data.setDocumentLabel.typeOverride, { label: 'report', setBy: me.data.me.user.id });
    const filtered = await hub.gql(`{ documents(filter: { types: ["report"] }) { nodes { id } } }`);
    assert.deepEqual(filtered.data.documents.nodes, [{ id }]);
    const searched = await hub.gql(
      `{ search(query: "parish council potholes", mode: TEXT, filter: { types: ["report"] }) { document { id } } }`,
    );
    assert.equal(searched.data.search[0]?.document.id, id, 'search filters use the label in force');
    const bad = await hub.gql(`mutation($id: ID!) { setDocumentLabel(documentId: $id, kind: SENSITIVITY, label: "report") { id } }`, {
      id,
    });
    assert.equal(bad.errors?.[0]?.extensions?.code, 'UNKNOWN_LABEL');
    const audit = await hub.gql(`{ auditLog(first: 10) { action targetId } }`);
    assert.ok(audit.data.auditLog.some((e: { action: string; targetId: string }) => e.action === 'document.labelled' && e.targetId === id));
  });

  test(
    'labelled documents teach the classifier: a document it got wrong is classified as the team labels its kind',
    { timeout: 300_000 },
    async () => {
      // Processed before the team labelled anything: zero-shot.
      const before = await labels(wrong);
      assert.equal(before.classification.method, 'zero-shot');
      assert.notEqual(before.classification.type.label, 'report', 'the zero-shot classifier gets it wrong');

      const labelled = [];
      for (const [i, text] of MINUTES.entries()) {
        const id =
          i === 0
            ? (await hub.gql(`{ documents(filter: { types: ["report"] }) { nodes { id } } }`)).data.documents.nodes[0].id
            : await upload(`minutes-${i}.txt`, text);
        const res = await hub.gql(`mutation($id: ID!) { setDocumentLabel(documentId: $id, kind: TYPE, label: "report") { id } }`, { id });
        assert.equal(res.errors, undefined, JSON.stringify(res.errors));
        labelled.push(id);
      }

      // A new document of the kind is classified with the examples as it is processed…
      const fresh = await upload('minutes-agm-copy.txt', `${NEW_MINUTES}\nApproved at the next meeting.`);
      const after = await labels(fresh);
      assert.deepEqual([after.classification.type.label, after.classification.method, after.typeOverride], ['report', 'few-shot', null]);

      // …and re-classification corrects the one processed before.
      const re = await hub.gql(`mutation { reclassifyDocuments { documents changed examples } }`);
      assert.equal(re.errors, undefined, JSON.stringify(re.errors));
      assert.equal(re.data.reclassifyDocuments.examples, 3);
      assert.ok(re.data.reclassifyDocuments.changed >= 1);
      const corrected = await labels(wrong);
      assert.deepEqual([corrected.type, corrected.classification.method], ['report', 'few-shot']);
      // People's labels stay as they were.
      for (const id of labelled) assert.equal((await labels(id)).type, 'report');
    },
  );
});
