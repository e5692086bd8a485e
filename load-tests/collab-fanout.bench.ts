/**
 * Fan-out latency of one live annotation session: from a client sending an annotation
 * operation to every other client in the session receiving it as an `annotation` event.
 *
 *   node --import tsx load-tests/collab-fanout.bench.ts [--clients 50] [--users 50] [--ops 200] \
 *     [--warmup 10] [--interval 20-50] [--seed 1]
 *
 * A real hub (`quire all`) starts as a child process with a fresh temporary DATA_DIR and the
 * seeded owner; notes.txt from test/fixtures/generated is uploaded and processed, so its
 * session can be joined and a box on page 1 is a valid anchor. `--users` accounts (the owner
 * and editors signed up through invitations) hold the `--clients` connections in turn: by
 * default every client is a different person, as in a real session, so before each event
 * reaches the room the hub re-reads the access of every one of them, as it does in
 * production. `--users 1` puts every connection on the owner's account, which leaves only one
 * access check per event. Every client is a CollabClient on the `/collab` namespace that has
 * joined the document; the operations start once each of them has heard of all the others
 * (presence), so the joins' own traffic is over.
 *
 * The operation is a `create` with a box anchor, sent by the clients in turn (operation i by
 * client i mod N). Operations follow a fixed schedule, one every `--interval` ms (drawn
 * uniformly between the two bounds, seeded), whether or not the earlier ones have arrived:
 * a hub that falls behind shows as latency, not as fewer operations. The clients live in this
 * process, the hub in its own, and every time is this process's `performance.now()`:
 * - all received: the last of the N − 1 other clients receiving the event with the
 *   operation's id, minus the moment the sender emitted it (the sender's own copy of the
 *   event is not counted);
 * - per delivery: each of the N − 1 receipts on its own, from the same start;
 * - acknowledgement: the sender's round trip, emit to the `op` answer.
 * Receipt times include the queueing of this process, which parses every client's packets on
 * one thread; on a two-core machine it and the hub share the cores.
 *
 * The first `--warmup` operations run on the same schedule and are not counted. An operation
 * the hub refuses, or one some client has not received `OP_TIMEOUT_MS` after the last was
 * sent, is counted (refused, lost deliveries) and left out of the figures. The clients, the
 * hub and its data directory are removed at the end, also after an error or Ctrl-C.
 *
 * Measures, never asserts. The last line is JSON.
 */
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { describeMachine, formatTable, jsonLine, summarizeLatency, type LatencySummary } from '../hub/src/eval/report.ts';
import { ensureFixtures } from '../test/fixtures/generate.ts';
import { FIXTURES, fixturePath } from '../test/fixtures/manifest.ts';
import { CollabClient } from '../test/helpers/collab-client.ts';
import { gql, startHub, waitFor, type HubProcess } from '../test/helpers/hub.ts';
import { seededRandom } from '../test/helpers/random.ts';
import { cleanUpOnExit } from './cleanups.ts';

const { values: args } = parseArgs({
  options: {
    clients: { type: 'string', default: '50' },
    users: { type: 'string' },
    ops: { type: 'string', default: '200' },
    warmup: { type: 'string', default: '10' },
    interval: { type: 'string', default: '20-50' },
    seed: { type: 'string', default: '1' },
  },
});
const CLIENTS = Number(args.clients);
const USERS = Math.min(CLIENTS, Number(args.users ?? CLIENTS));
const OPS = Number(args.ops);
const WARMUP_OPS = Number(args.warmup);
const [MIN_INTERVAL_MS, MAX_INTERVAL_MS] = ((): [number, number] => {
  const [low = NaN, high = low] = args.interval.split('-').map(Number);
  return [low, high];
})();
const SEED = Number(args.seed);
/** How long after the last operation was sent the missing receipts are still waited for. */
const OP_TIMEOUT_MS = 10_000;
const PASSWORD = 'correct horse battery staple';

if (
  !(CLIENTS >= 2) ||
  !(USERS >= 1) ||
  !(OPS >= 1) ||
  !(WARMUP_OPS >= 0) ||
  !(MIN_INTERVAL_MS >= 0) ||
  !(MAX_INTERVAL_MS >= MIN_INTERVAL_MS)
) {
  console.error('collab-fanout: --clients ≥ 2, --users ≥ 1, --ops ≥ 1, --warmup ≥ 0 and --interval MIN-MAX (ms) with MIN ≤ MAX');
  process.exit(2);
}

/** One operation as it went: who sent it, when, and when each client received it. */
interface Sent {
  sender: number;
  sentAt: number;
  ackAt: number | null;
  refused: string | null;
  /** Receipt time by client index; NaN until received (and for the sender). */
  receivedAt: number[];
  /** Other clients still to receive it. */
  missing: number;
  /** Resolves once no other client is missing it. */
  done: Promise<void>;
  resolve: () => void;
}

/** Accounts to hold the connections: the owner, then editors who signed up through invitations. */
async function signUpEditors(hub: HubProcess, count: number): Promise<string[]> {
  const tokens = [hub.ownerToken!];
  for (let i = 1; i < count; i++) {
    const invitation = await hub.gql(`mutation($role: Role!) { createInvitation(role: $role) { token } }`, { role: 'EDITOR' });
    if (invitation.errors) throw new Error(`createInvitation: ${JSON.stringify(invitation.errors)}`);
    const res = await gql(hub.url, `mutation($input: SignUpInput!) { signUp(input: $input) { accessToken } }`, {
      input: { email: `editor-${i}@example.org`, password: PASSWORD, invitationToken: invitation.data.createInvitation.token },
    });
    if (res.errors) throw new Error(`signUp: ${JSON.stringify(res.errors)}`);
    tokens.push(res.data.signUp.accessToken as string);
  }
  return tokens;
}

async function uploadProcessed(hub: HubProcess): Promise<string> {
  const notes = FIXTURES['notes.txt'];
  const { status, body } = await hub.upload({
    name: notes.file,
    data: await readFile(fixturePath(notes.file)),
    type: notes.mime ?? undefined,
  });
  if (status >= 300) throw new Error(`upload of ${notes.file} answered ${status}: ${JSON.stringify(body)}`);
  const documentId: string = body.documentId;
  await waitFor(
    async () => {
      const { data } = await hub.gql('query($id: ID!) { document(id: $id) { status } }', { id: documentId });
      if (data?.document?.status === 'FAILED') throw new Error(`${notes.file} failed to process`);
      return data?.document?.status === 'PROCESSED';
    },
    300_000,
    `${notes.file} to be processed`,
  );
  return documentId;
}

async function main(): Promise<void> {
  const { cleanups, cleanUp, signal } = cleanUpOnExit();

  try {
    await ensureFixtures();
    console.error('starting the hub…');
    // Every sign-up takes a point from this process's address; the default would stop at 50.
    const hub = await startHub({ seedOwner: true, signal, env: { SIGNIN_FAILURES_PER_ADDRESS: String(USERS + 50) } });
    cleanups.push(() => hub.stop());
    const documentId = await uploadProcessed(hub);
    console.error(`signing up ${USERS - 1} editors…`);
    const tokens = await signUpEditors(hub, USERS);

    console.error(`${CLIENTS} clients: connecting and joining…`);
    const clients = Array.from({ length: CLIENTS }, (_, i) => new CollabClient(hub.url, { token: tokens[i % USERS]! }));
    cleanups.push(async () => {
      for (const c of clients) c.close();
    });
    await Promise.all(clients.map((c) => c.connected()));
    // One after the other: a client replaces its presence list with the join answer's, so an
    // arrival announced between its entering the room and that answer would be lost to it,
    // and the wait below would never end.
    for (const c of clients) {
      const joined = await c.join(documentId);
      if (!joined.ok) throw new Error(`join refused: ${JSON.stringify(joined.error)}`);
    }
    await waitFor(async () => clients.every((c) => c.presence.size === CLIENTS), 30_000, 'every client to see all the others');

    const sent = new Map<string, Sent>();
    clients.forEach((c, index) =>
      c.onEvent((e) => {
        const op = sent.get(e.opId);
        if (!op || index === op.sender || !Number.isNaN(op.receivedAt[index])) return;
        op.receivedAt[index] = performance.now();
        op.missing -= 1;
        if (op.missing === 0) op.resolve();
      }),
    );

    // The schedule is fixed in advance from the run's start, so a late timer does not push
    // the later operations back.
    const rand = seededRandom(SEED);
    const total = WARMUP_OPS + OPS;
    const opIds: string[] = [];
    const acks: Promise<void>[] = [];
    console.error(`${WARMUP_OPS} warm-up and ${OPS} measured operations, one every ${MIN_INTERVAL_MS}–${MAX_INTERVAL_MS} ms…`);
    const start = performance.now();
    let due = start;
    for (let i = 0; i < total; i++) {
      await sleep(Math.max(0, due - performance.now()));
      due += MIN_INTERVAL_MS + rand() * (MAX_INTERVAL_MS - MIN_INTERVAL_MS);
      const sender = i % CLIENTS;
      const opId = `fanout-${i}`;
      let resolve!: () => void;
      const done = new Promise<void>((r) => (resolve = r));
      const op: Sent = {
        sender,
        sentAt: performance.now(),
        ackAt: null,
        refused: null,
        receivedAt: new Array<number>(CLIENTS).fill(Number.NaN),
        missing: CLIENTS - 1,
        done,
        resolve,
      };
      sent.set(opId, op);
      opIds.push(opId);
      acks.push(
        clients[sender]!.op({
          type: 'create',
          opId,
          anchor: { kind: 'box', page: 1, box: { x: i % 90, y: (i * 7) % 90, w: 4, h: 4 } },
        }).then(
          (answer) => {
            op.ackAt = performance.now();
            if (!answer.ok) {
              op.refused = answer.error.code;
              op.resolve();
            }
          },
          (err: Error) => {
            op.refused = err.message;
            op.resolve();
          },
        ),
      );
    }
    const sendingMs = performance.now() - start;
    await Promise.all(acks);
    await Promise.race([Promise.all(opIds.map((id) => sent.get(id)!.done)), sleep(OP_TIMEOUT_MS, undefined, { ref: false })]);

    const measured = opIds.slice(WARMUP_OPS).map((id) => sent.get(id)!);
    const accepted = measured.filter((op) => op.refused === null);
    const allReceivedMs = accepted
      .filter((op) => op.missing === 0)
      .map((op) => Math.max(...op.receivedAt.filter((t) => !Number.isNaN(t))) - op.sentAt);
    const perDeliveryMs = accepted.flatMap((op) => op.receivedAt.filter((t) => !Number.isNaN(t)).map((t) => t - op.sentAt));
    const ackMs = accepted.map((op) => op.ackAt! - op.sentAt);
    const refusals = measured.filter((op) => op.refused !== null).map((op) => op.refused!);
    const lostDeliveries = accepted.reduce((sum, op) => sum + op.missing, 0);

    const figures: Record<'allReceived' | 'perDelivery' | 'ack', LatencySummary> = {
      allReceived: summarizeLatency(allReceivedMs),
      perDelivery: summarizeLatency(perDeliveryMs),
      ack: summarizeLatency(ackMs),
    };
    const rows: [string, LatencySummary][] = [
      [`all ${CLIENTS - 1} others received`, figures.allReceived],
      ['per delivery', figures.perDelivery],
      ['ack round trip (sender)', figures.ack],
    ];

    console.log(
      `\nAnnotation operation → received by the other clients: ${CLIENTS} clients (${USERS} accounts) on one document, ` +
        `${OPS} operations after ${WARMUP_OPS} warm-up, one every ${MIN_INTERVAL_MS}–${MAX_INTERVAL_MS} ms ` +
        `(${((OPS + WARMUP_OPS) / (sendingMs / 1000)).toFixed(1)} ops/s), senders in turn; ms`,
    );
    console.log(`refused ${refusals.length}, lost deliveries ${lostDeliveries}; ${describeMachine()}\n`);
    console.log(
      formatTable(
        ['measure', 'count', 'p50', 'p90', 'p99', 'max', 'mean'],
        rows.map(([name, s]) => [name, s.count, s.p50, s.p90, s.p99, s.max, s.mean]),
      ),
    );
    console.log();
    console.log(
      jsonLine('collab-fanout', {
        clients: CLIENTS,
        users: USERS,
        ops: OPS,
        warmupOps: WARMUP_OPS,
        intervalMs: { min: MIN_INTERVAL_MS, max: MAX_INTERVAL_MS },
        seed: SEED,
        opsPerSecond: (OPS + WARMUP_OPS) / (sendingMs / 1000),
        refused: refusals.length,
        lostDeliveries,
        latencyMs: figures,
      }),
    );
  } finally {
    await cleanUp();
  }
}

await main();
