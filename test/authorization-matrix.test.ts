/**
 * The authorization matrix, against a real hub process: every entry point of the policy
 * (ENTRY_POINTS: each GraphQL root field, the upload and download routes, the Socket.IO
 * `subscribe` and the `/collab` namespace's `join`, `op` and `review:join`) tried by an owner, an editor, a viewer, an editor API key, a viewer API key, a
 * member of another team naming this team, and a caller without a token. The expected answer of each cell is generated from POLICY, and an entry
 * point without a probe fails the test, so a new operation cannot be forgotten.
 *
 * Then the cross-team probes: a member of another team, acting in its own team, finds
 * nothing of this team's documents, and its ids answer exactly like ids that do not exist.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from 'graphql-ws';
import { io } from 'socket.io-client';
import WebSocket from 'ws';
import { Access, ENTRY_POINTS, POLICY, ROLE_RANK, type EntryPoint, type Role } from '@quire/hub';
import { bearer, gql, signIn, startHub, upload, waitFor, type HubProcess } from './helpers/hub.ts';

const PASSWORD = 'correct horse battery staple';
const TEAM_A = 'default';
/** Only these answers are refusals by the policy; any other answer got past it. */
const REFUSALS = ['UNAUTHENTICATED', 'FORBIDDEN', 'NOT_FOUND'] as const;
type Refusal = (typeof REFUSALS)[number];
type Outcome = 'allowed' | Refusal;

interface Caller {
  name: string;
  /** The role in team A; undefined for the member of another team and for no token. */
  role?: Role;
  /** An API key rather than a signed-in person. */
  apiKey?: boolean;
  token: string | null;
  /** The team the caller names (the member of another team names team A). */
  team?: string;
}

let hub: HubProcess;
const callers: Caller[] = [];
/** Team A's document and job, the outsider's user id, and a user no probe may harm. */
const fixture = { documentId: '', jobId: '', bystanderId: '', phrase: 'the harbour crane inspection is due on thursday' };
let probeCount = 0;

async function mustSignUp(email: string, invitationToken?: string): Promise<{ token: string; userId: string }> {
  const res = await gql(hub.url, `mutation($input: SignUpInput!) { signUp(input: $input) { accessToken user { id } } }`, {
    input: { email, password: PASSWORD, invitationToken },
  });
  assert.equal(res.errors, undefined, JSON.stringify(res.errors));
  return { token: res.data.signUp.accessToken, userId: res.data.signUp.user.id };
}

async function invite(role: 'EDITOR' | 'VIEWER'): Promise<string> {
  const res = await hub.gql(`mutation($role: Role!) { createInvitation(role: $role) { token } }`, { role });
  assert.equal(res.errors, undefined, JSON.stringify(res.errors));
  return res.data.createInvitation.token;
}

async function apiKey(role: 'EDITOR' | 'VIEWER'): Promise<string> {
  const res = await hub.gql(`mutation($role: Role!) { createApiKey(name: "matrix", role: $role) { key } }`, { role });
  assert.equal(res.errors, undefined, JSON.stringify(res.errors));
  return res.data.createApiKey.key;
}

before(async () => {
  hub = await startHub({ seedOwner: true, env: { OPEN_SIGNUP: 'true' } });
  const editor = await mustSignUp('editor@example.org', await invite('EDITOR'));
  const viewer = await mustSignUp('viewer@example.org', await invite('VIEWER'));
  // With open sign-up, a newcomer owns a team of their own: team B.
  const outsider = await mustSignUp('outsider@example.org');
  fixture.bystanderId = (await mustSignUp('bystander@example.org')).userId;
  callers.push(
    { name: 'owner', role: 'owner', token: hub.ownerToken },
    { name: 'editor', role: 'editor', token: editor.token },
    { name: 'viewer', role: 'viewer', token: viewer.token },
    { name: 'editor API key', role: 'editor', apiKey: true, token: await apiKey('EDITOR') },
    { name: 'viewer API key', role: 'viewer', apiKey: true, token: await apiKey('VIEWER') },
    { name: 'member of another team', token: outsider.token, team: TEAM_A },
    { name: 'no token', token: null },
  );
  const accepted = await hub.upload({ name: 'crane.txt', data: new TextEncoder().encode(`Notice: ${fixture.phrase}.\n`) });
  assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
  fixture.documentId = accepted.body.documentId;
  fixture.jobId = accepted.body.jobId;
  await waitFor(
    async () =>
      (await hub.gql(`query($id: ID!) { document(id: $id) { status } }`, { id: fixture.documentId })).data.document?.status === 'PROCESSED',
    120_000,
    'team A document processed',
  );
});

after(async () => {
  await hub?.stop();
});

/** HTTP headers of a caller. */
function headersOf(c: Caller): Record<string, string> {
  return { ...(c.token ? bearer(c.token) : {}), ...(c.team ? { 'x-quire-team': c.team } : {}) };
}

/** The first error code of an answer, or undefined. */
const codeOf = (res: { errors?: any[] }): string | undefined => res.errors?.[0]?.extensions?.code;

async function graphqlCode(c: Caller, query: string, variables: Record<string, unknown> = {}): Promise<string | undefined> {
  return codeOf(await gql(hub.url, query, variables, headersOf(c)));
}

/**
 * The first message of a subscription over graphql-ws: its first error code, or undefined.
 * With `quietMs`, for subscriptions without a first event: undefined when nothing came by then.
 */
async function subscriptionCode(
  c: Caller,
  query: string,
  variables: Record<string, unknown>,
  quietMs?: number,
): Promise<string | undefined> {
  const client = createClient({
    url: hub.url.replace('http', 'ws') + '/graphql',
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    connectionParams: { ...(c.token ? { token: c.token } : {}), ...(c.team ? { team: c.team } : {}) },
  });
  try {
    return await new Promise<string | undefined>((resolve, reject) => {
      if (quietMs !== undefined) setTimeout(() => resolve(undefined), quietMs);
      client.subscribe(
        { query, variables },
        {
          next: (msg) => resolve(msg.errors ? (msg.errors[0]?.extensions?.code as string | undefined) : undefined),
          error: (err) => (Array.isArray(err) ? resolve(err[0]?.extensions?.code) : reject(err)),
          complete: () => resolve(undefined),
        },
      );
    });
  } finally {
    await client.dispose();
  }
}

/**
 * Like {@link graphqlCode} for a probe whose allowed answer is the service's NOT_FOUND with
 * `pastPolicy` as its message (a missing match or rule), told apart from the policy's.
 */
async function graphqlCodePast(
  c: Caller,
  query: string,
  pastPolicy: string,
  variables: Record<string, unknown> = {},
): Promise<string | undefined> {
  const res = await gql(hub.url, query, variables, headersOf(c));
  return res.errors?.[0]?.message === pastPolicy ? undefined : codeOf(res);
}

/** The acknowledgement of a Socket.IO request (default: `subscribe` on `/`): its error code, or undefined. */
async function socketCode(
  c: Caller,
  request: Record<string, unknown>,
  { namespace = '/', event = 'subscribe' }: { namespace?: string; event?: string } = {},
): Promise<string | undefined> {
  const socket = io(hub.url + namespace, {
    transports: ['websocket'],
    auth: { ...(c.token ? { token: c.token } : {}), ...(c.team ? { team: c.team } : {}) },
  });
  try {
    // A caller without a valid token is refused at the handshake, before any request.
    const refused = new Promise<string>((resolve) =>
      socket.once('connect_error', (err: Error & { data?: { code?: string } }) => resolve(err.data?.code ?? err.message)),
    );
    const answered = socket
      .timeout(10_000)
      .emitWithAck(event, request)
      .then((a) => (a.ok ? undefined : (a.error.code as string)));
    // Not waited for after a refusal: its rejection when the socket closes is expected.
    answered.catch(() => undefined);
    return await Promise.race([refused, answered]);
  } finally {
    socket.disconnect();
  }
}

/** A fresh refresh token of a throwaway account, for the probes of public session operations. */
async function throwawayRefreshToken(): Promise<string> {
  const email = `probe-${++probeCount}@example.org`;
  const res = await gql(hub.url, `mutation($input: SignUpInput!) { signUp(input: $input) { refreshToken } }`, {
    input: { email, password: PASSWORD },
  });
  assert.equal(res.errors, undefined, JSON.stringify(res.errors));
  return res.data.signUp.refreshToken;
}

/**
 * One harmless attempt per entry point: each either passes the policy (its answer, a result
 * or a domain error such as INVALID_CREDENTIALS, is then not a refusal) or is refused.
 */
const PROBES: Record<EntryPoint, (c: Caller) => Promise<string | undefined>> = {
  'Query.me': (c) => graphqlCode(c, `{ me { user { id } } }`),
  'Query.members': (c) => graphqlCode(c, `{ members { role } }`),
  'Query.apiKeys': (c) => graphqlCode(c, `{ apiKeys { id } }`),
  'Query.auditLog': (c) => graphqlCode(c, `{ auditLog(first: 5) { action } }`),
  'Query.document': (c) => graphqlCode(c, `query($id: ID!) { document(id: $id) { id text } }`, { id: fixture.documentId }),
  'Query.documents': (c) => graphqlCode(c, `{ documents(first: 5) { totalCount nodes { id } } }`),
  'Query.job': (c) => graphqlCode(c, `query($id: ID!) { job(id: $id) { id status } }`, { id: fixture.jobId }),
  'Query.search': (c) => graphqlCode(c, `query($q: String!) { search(query: $q, mode: TEXT) { document { id } } }`, { q: 'crane' }),
  'Query.searchDocuments': (c) =>
    graphqlCode(
      c,
      `query($q: String!) { searchDocuments(query: $q, mode: TEXT) { documents { document { id } } facets { passagesExamined } } }`,
      {
        q: 'crane',
      },
    ),
  'Query.moreLikeThis': (c) =>
    graphqlCode(c, `query($d: ID!) { moreLikeThis(documentId: $d, first: 3) { document { id } } }`, { d: fixture.documentId }),
  'Mutation.signUp': async (c) =>
    graphqlCode(c, `mutation($input: SignUpInput!) { signUp(input: $input) { accessToken } }`, {
      input: { email: `probe-${++probeCount}@example.org`, password: PASSWORD },
    }),
  'Mutation.signIn': (c) =>
    graphqlCode(c, `mutation($e: String!, $p: String!) { signIn(email: $e, password: $p) { accessToken } }`, {
      e: 'bystander@example.org',
      p: PASSWORD,
    }),
  'Mutation.refreshSession': async (c) =>
    graphqlCode(c, `mutation($t: String!) { refreshSession(refreshToken: $t) { accessToken } }`, { t: await throwawayRefreshToken() }),
  'Mutation.signOut': async (c) =>
    graphqlCode(c, `mutation($t: String) { signOut(refreshToken: $t) }`, { t: await throwawayRefreshToken() }),
  // A wrong current password: past the policy it answers INVALID_CREDENTIALS and changes nothing.
  'Mutation.changePassword': (c) =>
    graphqlCode(c, `mutation { changePassword(currentPassword: "not the password", newPassword: "${PASSWORD} 2") }`),
  'Mutation.createInvitation': (c) => graphqlCode(c, `mutation { createInvitation(role: VIEWER) { token } }`),
  'Mutation.acceptInvitation': (c) => graphqlCode(c, `mutation { acceptInvitation(token: "no-such-invitation") { role } }`),
  'Mutation.setMemberRole': (c) =>
    graphqlCode(c, `mutation($u: ID!) { setMemberRole(userId: $u, role: VIEWER) { role } }`, { u: callerIds.viewer }),
  // Someone who is not a member of team A: an allowed removal answers false and changes nothing.
  'Mutation.removeMember': (c) => graphqlCode(c, `mutation($u: ID!) { removeMember(userId: $u) }`, { u: fixture.bystanderId }),
  'Mutation.createApiKey': (c) => graphqlCode(c, `mutation { createApiKey(name: "probe", role: VIEWER) { key } }`),
  'Mutation.revokeApiKey': (c) => graphqlCode(c, `mutation { revokeApiKey(id: "no-such-key") }`),
  // Team A's processed document: an allowed reprocess queues it again (or, queued already, conflicts).
  'Mutation.reprocessDocument': (c) =>
    graphqlCode(c, `mutation($id: ID!) { reprocessDocument(id: $id) { job { id } } }`, { id: fixture.documentId }),
  // An id that does not exist: an allowed delete answers false.
  'Mutation.deleteDocument': (c) => graphqlCode(c, `mutation { deleteDocument(id: "no-such-document") }`),
  'Subscription.jobProgress': (c) =>
    subscriptionCode(c, `subscription($id: ID!) { jobProgress(jobId: $id) { status } }`, { id: fixture.jobId }),
  'Subscription.documentEvents': (c) =>
    subscriptionCode(c, `subscription($id: ID) { documentEvents(documentId: $id) { status } }`, { id: fixture.documentId }),
  'Query.annotations': (c) => graphqlCode(c, `query($d: ID!) { annotations(documentId: $d) { id } }`, { d: fixture.documentId }),
  'Query.annotationOperations': (c) =>
    graphqlCode(c, `query($d: ID!) { annotationOperations(documentId: $d) { lastSeq } }`, { d: fixture.documentId }),
  'Query.presence': (c) => graphqlCode(c, `query($d: ID) { presence(documentId: $d) { name } }`, { d: fixture.documentId }),
  'Query.labels': (c) => graphqlCode(c, `{ labels { types { name } } }`),
  'Query.matches': (c) => graphqlCode(c, `{ matches { id } }`),
  'Query.match': (c) => graphqlCode(c, `{ match(id: "no-such-match") { id } }`),
  'Query.matchedSets': (c) => graphqlCode(c, `{ matchedSets { id } }`),
  'Query.matchRules': (c) => graphqlCode(c, `{ matchRules { id } }`),
  // A box on the first page: an allowed probe adds one annotation.
  'Mutation.applyAnnotationOperation': (c) =>
    graphqlCode(c, `mutation($d: ID!, $op: JSON!) { applyAnnotationOperation(documentId: $d, op: $op) { seq } }`, {
      d: fixture.documentId,
      op: { type: 'create', opId: `probe-${++probeCount}`, anchor: { kind: 'box', page: 1, box: { x: 1, y: 1, w: 2, h: 2 } } },
    }),
  // Clearing a label that is not set: allowed, it changes nothing.
  'Mutation.setDocumentLabel': (c) =>
    graphqlCode(c, `mutation($d: ID!) { setDocumentLabel(documentId: $d, kind: TYPE, label: null) { id } }`, { d: fixture.documentId }),
  'Mutation.reclassifyDocuments': (c) => graphqlCode(c, `mutation { reclassifyDocuments { documents } }`),
  // A name the team has: past the policy it answers LABEL_EXISTS, adding nothing.
  'Mutation.addLabel': (c) =>
    graphqlCode(c, `mutation { addLabel(kind: TYPE, name: "Invoice", description: "A bill.") { types { name } } }`),
  // A name the team does not have: past the policy it answers UNKNOWN_LABEL, removing nothing.
  'Mutation.removeLabel': (c) => graphqlCode(c, `mutation { removeLabel(kind: TYPE, name: "no such label") { types { name } } }`),
  // A match that does not exist: past the policy it answers NOT_FOUND from the service, which
  // the probe tells apart by its message.
  'Mutation.resolveMatch': (c) =>
    graphqlCodePast(
      c,
      `mutation { resolveMatch(id: "no-such-match", decision: REJECT, baseVersion: 1) { id } }`,
      'Match no-such-match not found',
    ),
  // An unknown type: past the policy the rule is refused as UNKNOWN_LABEL, creating nothing.
  'Mutation.createMatchRule': (c) =>
    graphqlCode(c, `mutation($i: MatchRuleInput!) { createMatchRule(input: $i) { id } }`, {
      i: {
        name: 'probe',
        typeA: 'no such type',
        typeB: 'invoice',
        conditions: [{ fieldA: 'number', fieldB: 'number', comparison: 'EQUALS' }],
      },
    }),
  'Mutation.updateMatchRule': (c) =>
    graphqlCodePast(
      c,
      `mutation($i: MatchRuleInput!) { updateMatchRule(id: "no-such-rule", input: $i) { id } }`,
      'Match rule no-such-rule not found',
      {
        i: {
          name: 'probe',
          typeA: 'invoice',
          typeB: 'invoice',
          conditions: [{ fieldA: 'number', fieldB: 'number', comparison: 'EQUALS' }],
        },
      },
    ),
  'Mutation.deleteMatchRule': (c) => graphqlCode(c, `mutation { deleteMatchRule(id: "no-such-rule") }`),
  'Subscription.annotationEvents': (c) =>
    subscriptionCode(c, `subscription($d: ID) { annotationEvents(documentId: $d) { seq } }`, { d: fixture.documentId }, 1500),
  'Subscription.matchEvents': (c) => subscriptionCode(c, `subscription { matchEvents { action } }`, {}, 1500),
  'Query.dashboard': (c) =>
    graphqlCode(c, `{ dashboard { total byStatus { key count } throughput(minutes: 5) { at } nodes { id } activity { matchesOpen } } }`),
  // The current dashboard comes first, at once.
  'Subscription.dashboard': (c) => subscriptionCode(c, `subscription { dashboard { total queueDepth } }`, {}),
  'POST /api/documents': async (c) => {
    const res = await upload(
      hub.url,
      { name: 'probe.txt', data: new TextEncoder().encode(`probe upload ${++probeCount}\n`) },
      headersOf(c),
    );
    return res.status < 300 ? undefined : res.body.error?.code;
  },
  'GET /api/documents/:id/file': async (c) => {
    const res = await fetch(`${hub.url}/api/documents/${fixture.documentId}/file`, { headers: headersOf(c) });
    return res.ok ? (await res.arrayBuffer(), undefined) : (await res.json()).error?.code;
  },
  'socket.io subscribe': (c) => socketCode(c, { documentId: fixture.documentId }),
  'socket.io join': (c) => socketCode(c, { documentId: fixture.documentId, since: 0 }, { namespace: '/collab', event: 'join' }),
  // A highlight of the document's first words: an allowed probe adds one annotation.
  'socket.io op': (c) =>
    socketCode(
      c,
      {
        documentId: fixture.documentId,
        op: { type: 'create', opId: `probe-${++probeCount}`, anchor: { kind: 'highlight', chunkOrdinal: 0, start: 0, end: 6 } },
      },
      { namespace: '/collab', event: 'op' },
    ),
  'socket.io review': (c) => socketCode(c, {}, { namespace: '/collab', event: 'review:join' }),
};

/** User ids of the callers, for probes that name a member. */
const callerIds: Record<string, string> = {};

/** The expected answer of a cell, from POLICY alone. */
function expected(c: Caller, entry: EntryPoint): Outcome {
  const access = POLICY[ENTRY_POINTS[entry]];
  if (access === Access.Public) return 'allowed';
  if (!c.token) return 'UNAUTHENTICATED';
  if (access === Access.User) return c.apiKey ? 'FORBIDDEN' : 'allowed';
  if (!c.role) return 'NOT_FOUND';
  return ROLE_RANK[c.role] >= ROLE_RANK[access] ? 'allowed' : 'FORBIDDEN';
}

const outcome = (code: string | undefined): Outcome =>
  (REFUSALS as readonly string[]).includes(code ?? '') ? (code as Refusal) : 'allowed';

describe('authorization matrix', () => {
  test('every entry point of the policy has a probe, and every probe an entry point', () => {
    assert.deepEqual(
      Object.keys(ENTRY_POINTS).filter((e) => !(e in PROBES)),
      [],
      'entry points without a row in the matrix',
    );
    assert.deepEqual(
      Object.keys(PROBES).filter((e) => !(e in ENTRY_POINTS)),
      [],
      'matrix rows naming no entry point',
    );
  });

  test('each caller × entry point answers as POLICY says', { timeout: 180_000 }, async () => {
    const me = await gql(hub.url, `{ me { user { id } } }`, {}, bearer(callers.find((c) => c.role === 'viewer')!.token!));
    callerIds.viewer = me.data.me.user.id;
    const mismatches: string[] = [];
    for (const entry of Object.keys(ENTRY_POINTS) as EntryPoint[]) {
      for (const c of callers) {
        const code = await PROBES[entry](c);
        const want = expected(c, entry);
        if (outcome(code) !== want) mismatches.push(`${entry} as ${c.name}: expected ${want}, got ${code ?? 'an answer'}`);
      }
    }
    assert.deepEqual(mismatches, []);
  });
});

describe('cross-team probes: a member of team B acting in its own team', () => {
  let outsider: Caller;
  before(async () => {
    outsider = { name: 'member of team B', token: await signIn(hub.url, 'outsider@example.org', PASSWORD) };
  });

  test("searching for a phrase only in team A's document finds nothing", async () => {
    for (const mode of ['TEXT', 'HYBRID']) {
      const res = await gql(
        hub.url,
        `query($q: String!, $m: SearchMode) { search(query: $q, mode: $m) { document { id } } }`,
        { q: fixture.phrase, m: mode },
        headersOf(outsider),
      );
      assert.deepEqual(res, { data: { search: [] } }, mode);
    }
    const owner = await hub.gql(`query($q: String!) { search(query: $q, mode: TEXT) { document { id } } }`, { q: fixture.phrase });
    assert.equal(owner.data.search[0]?.document.id, fixture.documentId, 'team A itself finds it');
  });

  test("team A's ids answer exactly like ids that do not exist", async () => {
    const read = `query($d: ID!, $j: ID!) { document(id: $d) { id } job(id: $j) { id } }`;
    const theirs = await gql(hub.url, read, { d: fixture.documentId, j: fixture.jobId }, headersOf(outsider));
    const missing = await gql(hub.url, read, { d: 'no-such-document', j: 'no-such-job' }, headersOf(outsider));
    assert.deepEqual(theirs, { data: { document: null, job: null } });
    assert.deepEqual(theirs, missing);

    const reprocess = `mutation($id: ID!) { reprocessDocument(id: $id) { job { id } } }`;
    assert.equal(await graphqlCode(outsider, reprocess, { id: fixture.documentId }), 'NOT_FOUND');
    assert.equal(await graphqlCode(outsider, reprocess, { id: 'no-such-document' }), 'NOT_FOUND');
    const del = await gql(hub.url, `mutation($id: ID!) { deleteDocument(id: $id) }`, { id: fixture.documentId }, headersOf(outsider));
    assert.deepEqual(del, { data: { deleteDocument: false } });
    assert.ok((await hub.gql(`query($id: ID!) { document(id: $id) { id } }`, { id: fixture.documentId })).data.document, 'still there');
  });

  test("subscribing to team A's jobProgress and joining its document room are refused like unknown ids", async () => {
    const progress = `subscription($id: ID!) { jobProgress(jobId: $id) { status } }`;
    assert.equal(await subscriptionCode(outsider, progress, { id: fixture.jobId }), 'NOT_FOUND');
    assert.equal(await subscriptionCode(outsider, progress, { id: 'no-such-job' }), 'NOT_FOUND');
    assert.equal(await socketCode(outsider, { documentId: fixture.documentId }), 'NOT_FOUND');
    assert.equal(await socketCode(outsider, { documentId: 'no-such-document' }), 'NOT_FOUND');
    assert.equal(await socketCode(outsider, { team: true }), undefined, 'its own team room is open to it');
    const join = { namespace: '/collab', event: 'join' };
    assert.equal(await socketCode(outsider, { documentId: fixture.documentId }, join), 'NOT_FOUND');
    assert.equal(await socketCode(outsider, { documentId: 'no-such-document' }, join), 'NOT_FOUND');
    assert.equal(await socketCode(outsider, { documentId: fixture.documentId, since: 0 }, { ...join, event: 'sync' }), 'NOT_FOUND');
  });
});
