/**
 * The team dashboard against a real hub and the real pipeline: a graphql-ws subscriber sees
 * its team go from nothing to one processed document, with the processing node that ran it
 * (the hub's embedded pool, announced by its heartbeats: CPU, one job at a time) and the minute
 * it finished in; updates come at most once a second; a member of another team sees the same
 * node with only its own zero counts and hears nothing of the first team; a member removed
 * from the team gets the refusal at the next update instead of the dashboard.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { gql, bearer, startHub, waitFor, type HubProcess } from './helpers/hub.ts';

const PASSWORD = 'correct horse battery staple';
const DASHBOARD_FIELDS = `total queueDepth processing
  byStatus { key count } byType { key count } bySensitivity { key count }
  throughput(minutes: 5) { at processed failed }
  nodes { id host device executionProvider models concurrency version startedAt activeJobs jobsDone lastSeenAt }
  activity { annotationsLastDay matchesOpen matchesResolvedLastDay }`;
const ZERO_STATUSES = [
  { key: 'QUEUED', count: 0 },
  { key: 'PROCESSING', count: 0 },
  { key: 'PROCESSED', count: 0 },
  { key: 'FAILED', count: 0 },
];

let hub: HubProcess;
const clients: Client[] = [];

before(async () => {
  // With open sign-up, a newcomer owns a team of their own: the other team.
  hub = await startHub({ seedOwner: true, env: { OPEN_SIGNUP: 'true' } });
});

after(async () => {
  for (const c of clients) await c.dispose();
  await hub?.stop();
});

async function signUp(email: string, invitationToken?: string): Promise<{ id: string; token: string }> {
  const res = await gql(hub.url, `mutation($i: SignUpInput!) { signUp(input: $i) { accessToken user { id } } }`, {
    i: { email, password: PASSWORD, invitationToken },
  });
  assert.equal(res.errors, undefined, JSON.stringify(res.errors));
  return { id: res.data.signUp.user.id, token: res.data.signUp.accessToken };
}

/** A dashboard subscription: every value received with its arrival time, and its error code once it ends. */
function watchDashboard(token: string) {
  const client = createClient({
    url: hub.url.replace('http', 'ws') + '/graphql',
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    connectionParams: { token },
  });
  clients.push(client);
  const values: { at: number; dashboard: any }[] = [];
  const ended = new Promise<string | undefined>((resolve) => {
    client.subscribe(
      { query: `subscription { dashboard { ${DASHBOARD_FIELDS} } }` },
      {
        next: (msg) => {
          if (msg.errors) resolve(msg.errors[0]?.extensions?.code as string | undefined);
          else values.push({ at: Date.now(), dashboard: msg.data!.dashboard });
        },
        error: (err) => resolve(Array.isArray(err) ? err[0]?.extensions?.code : String(err)),
        complete: () => resolve(undefined),
      },
    );
  });
  return { values, ended, latest: () => values.at(-1)?.dashboard };
}

/** Nodes without when they were last heard from, which moves on with every heartbeat. */
const unseen = (nodes: any[]) => nodes.map(({ lastSeenAt: _, ...rest }) => rest);

const countOf = (list: { key: string; count: number }[], key: string) => list.find((c) => c.key === key)?.count ?? 0;

describe('dashboard', () => {
  test('goes from nothing to one processed document, with its node and its minute; another team sees its own zeros', async () => {
    const outsider = await signUp('outsider@example.org');
    const invitation = await hub.gql(`mutation { createInvitation(role: VIEWER) { token } }`);
    const viewer = await signUp('viewer@example.org', invitation.data.createInvitation.token);

    const mine = watchDashboard(hub.ownerToken!);
    const theirs = watchDashboard(outsider.token);
    const leaving = watchDashboard(viewer.token);
    await waitFor(async () => mine.values.length && theirs.values.length && leaving.values.length, 10_000, 'the first dashboards');

    // The current value comes first: an empty team, and the hub's own processing node, idle.
    const empty = mine.latest();
    assert.deepEqual([empty.total, empty.queueDepth, empty.processing, empty.byStatus, empty.byType], [0, 0, 0, ZERO_STATUSES, []]);
    assert.equal(empty.nodes.length, 1, JSON.stringify(empty.nodes));
    const [embedded] = empty.nodes;
    assert.equal(embedded.id.split(':').at(-1), String(hub.child.pid), 'the hub process announces its pool');
    assert.deepEqual(
      [embedded.device, embedded.executionProvider, embedded.concurrency, embedded.activeJobs, embedded.jobsDone],
      ['CPU', 'cpu', 1, 0, 0],
    );
    assert.equal(embedded.host, embedded.id.split(':').slice(0, -1).join(':'));
    assert.equal(embedded.models.length, 1);
    assert.match(embedded.version, /^\d+\.\d+\.\d+/);
    assert.ok(Date.parse(embedded.startedAt) <= Date.now());
    assert.equal(empty.throughput.length, 5);
    assert.ok(empty.throughput.every((b: any) => b.processed === 0 && b.failed === 0));
    const minutes = empty.throughput.map((b: any) => Date.parse(b.at));
    assert.ok(
      minutes.every((t: number, i: number) => t % 60_000 === 0 && (i === 0 || t - minutes[i - 1] === 60_000)),
      'whole minutes, oldest first',
    );
    assert.deepEqual(empty.activity, { annotationsLastDay: 0, matchesOpen: 0, matchesResolvedLastDay: 0 });
    assert.deepEqual(
      { ...theirs.latest(), nodes: unseen(theirs.latest().nodes) },
      { ...empty, nodes: unseen(empty.nodes) },
      "the other team's is as empty, with the same idle node",
    );

    // A member removed before the next update gets the refusal, not the dashboard.
    assert.deepEqual(await hub.gql(`mutation($u: ID!) { removeMember(userId: $u) }`, { u: viewer.id }), { data: { removeMember: true } });

    const accepted = await hub.upload({
      name: 'harbour-notice.txt',
      data: new TextEncoder().encode('Notice to all tenants: the harbour crane inspection is due on Thursday morning.\n'),
    });
    assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
    const done = await waitFor(
      async () => {
        const d = mine.latest();
        return countOf(d.byStatus, 'PROCESSED') === 1 && d.nodes.some((n: any) => n.jobsDone === 1) ? d : undefined;
      },
      120_000,
      'the dashboard showing the processed document and its node',
    );

    assert.equal(done.total, 1);
    assert.deepEqual([done.queueDepth, done.processing], [0, 0]);
    assert.deepEqual(
      done.byStatus,
      ZERO_STATUSES.map((s) => (s.key === 'PROCESSED' ? { ...s, count: 1 } : s)),
    );
    assert.equal(done.byType.length, 1, JSON.stringify(done.byType));
    assert.equal(done.byType[0].count, 1);
    assert.equal(done.bySensitivity[0]?.count, 1);
    assert.equal(done.nodes.length, 1, JSON.stringify(done.nodes));
    const [node] = done.nodes;
    assert.match(node.id, /^.+:\d+$/, 'hostname:pid');
    assert.equal(node.id.split(':').at(-1), String(hub.child.pid), 'the hub process that ran the job');
    assert.deepEqual(unseen([node]), unseen([{ ...embedded, jobsDone: 1 }]), 'one entry for the announced node and its progress');
    assert.deepEqual([node.activeJobs, node.jobsDone], [0, 1]);
    assert.ok(Math.abs(Date.parse(node.lastSeenAt) - Date.now()) < 60_000);
    const counted = done.throughput.filter((b: any) => b.processed > 0);
    assert.deepEqual(
      counted.map((b: any) => [b.processed, b.failed]),
      [[1, 0]],
      'one minute counts the document',
    );

    // Updates are folded: at most one a second after the first value.
    const gaps = mine.values.slice(1).map((v, i) => v.at - mine.values[i]!.at);
    assert.ok(
      gaps.every((g) => g >= 900),
      `updates ${gaps.join(', ')} ms apart`,
    );
    assert.ok(mine.values.length >= 2);

    // The same over HTTP, once.
    const once = await hub.gql(`{ dashboard { ${DASHBOARD_FIELDS} } }`);
    assert.equal(once.errors, undefined, JSON.stringify(once.errors));
    assert.deepEqual(
      [once.data.dashboard.total, once.data.dashboard.byStatus, unseen(once.data.dashboard.nodes)],
      [1, done.byStatus, unseen(done.nodes)],
    );

    // Nothing of this team reached the other: one value, its own zeros, also when asked again.
    assert.equal(theirs.values.length, 1);
    const asked = await gql(
      hub.url,
      `{ dashboard { total byStatus { key count } nodes { id activeJobs jobsDone } throughput(minutes: 5) { processed } } }`,
      {},
      bearer(outsider.token),
    );
    assert.equal(asked.errors, undefined, JSON.stringify(asked.errors));
    assert.deepEqual(
      [asked.data.dashboard.total, asked.data.dashboard.byStatus, asked.data.dashboard.nodes],
      [0, ZERO_STATUSES, [{ id: node.id, activeJobs: 0, jobsDone: 0 }]],
      "the shared node, without the first team's job",
    );
    assert.ok(asked.data.dashboard.throughput.every((b: any) => b.processed === 0));

    assert.equal(await leaving.ended, 'NOT_FOUND');
    assert.equal(leaving.values.length, 1, 'the removed member got the first dashboard only');
  });

  test('refuses a throughput of more than a day with BAD_MINUTES', async () => {
    const res = await hub.gql(`{ dashboard { throughput(minutes: 1441) { at } } }`);
    assert.equal(res.errors?.[0]?.extensions?.code, 'BAD_MINUTES');
    const ok = await hub.gql(`{ dashboard { throughput(minutes: 1440) { at } } }`);
    assert.equal(ok.data?.dashboard.throughput.length, 1440);
  });
});
