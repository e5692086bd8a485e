import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, it } from 'node:test';
import type { JobEnvelope } from './bus.ts';
import { NatsBus, deleteNatsBusStreams } from './bus.nats.ts';
import { defineBusContract, openBusFixture, waitFor, waitForAsync } from './contract.ts';

const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';

// Not a skip: the services script always provides NATS, so its absence is a broken setup.
const probe = new NatsBus({ servers: NATS_URL, prefix: `probe-${randomUUID().slice(0, 8)}`, timeoutMs: 2000 });
try {
  await probe.start();
} catch (err) {
  throw new Error(`NATS with JetStream is not reachable at ${NATS_URL}; run \`npm run services -- start\``, { cause: err });
}
await probe.close();
await deleteNatsBusStreams({ servers: NATS_URL, prefix: probe.jobsStream.replace(/_jobs$/, '') });

function uniquePrefix(): string {
  return `t-${randomUUID().slice(0, 12)}`;
}

defineBusContract('NatsBus', ({ closeTimeoutMs }) => {
  const prefix = uniquePrefix();
  return openBusFixture(
    () => new NatsBus({ servers: NATS_URL, prefix, name: `contract-${prefix}`, closeTimeoutMs, pullExpiresMs: 1000 }),
    () => deleteNatsBusStreams({ servers: NATS_URL, prefix }),
  );
});

function job(queue: string): JobEnvelope {
  return { id: randomUUID(), queue, payload: { n: 1 }, correlationId: randomUUID(), enqueuedAt: Date.now() };
}

/** A consumer in its own process, started with tsx, that takes jobs and never finishes them. */
const CHILD = `
const { NatsBus } = await import(process.env.BUS_MODULE);
const bus = new NatsBus({ servers: process.env.NATS_URL, prefix: process.env.BUS_PREFIX, name: 'doomed' });
await bus.start();
await bus.consume('crash.work', async (d) => {
  process.stdout.write('taken ' + d.envelope.id + ' ' + d.attempt + '\\n');
  return new Promise(() => {});
}, { leaseMs: 1000 });
process.stdout.write('ready\\n');
`;

describe('NatsBus across connections', () => {
  it('redelivers to another process a job whose consumer process was killed without acknowledging it', async () => {
    const prefix = uniquePrefix();
    const survivor = new NatsBus({ servers: NATS_URL, prefix, name: 'survivor' });
    await survivor.start();
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', CHILD], {
      env: { ...process.env, NATS_URL, BUS_PREFIX: prefix, BUS_MODULE: new URL('./bus.nats.ts', import.meta.url).href },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = once(child, 'exit');
    try {
      const lines = createInterface({ input: child.stdout });
      const seen: string[] = [];
      lines.on('line', (line) => seen.push(line));
      await waitFor(() => seen.includes('ready'), 'the child consumer', 15_000);
      const j = job('crash.work');
      await survivor.enqueue(j);
      await waitFor(() => seen.includes(`taken ${j.id} 1`), 'the child to take the job', 5000);
      child.kill('SIGKILL');
      await exited;

      const got: Array<{ id: string; attempt: number }> = [];
      const killedAt = Date.now();
      await survivor.consume(
        'crash.work',
        async (d) => {
          got.push({ id: d.envelope.id, attempt: d.attempt });
          return { status: 'succeeded' };
        },
        { leaseMs: 1000 },
      );
      await waitFor(() => got.length === 1, 'redelivery to the survivor', 5000);
      assert.deepEqual(got, [{ id: j.id, attempt: 2 }]);
      // ack_wait is 1 s; anything near it shows the server, not a poll, redelivered the job.
      assert.ok(Date.now() - killedAt < 5000, `redelivered ${Date.now() - killedAt} ms after the kill`);
    } finally {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
      await survivor.close();
      await deleteNatsBusStreams({ servers: NATS_URL, prefix });
    }
  });

  it('shares one queue between connections and delivers events across them', async () => {
    const prefix = uniquePrefix();
    const a = new NatsBus({ servers: NATS_URL, prefix, name: 'a' });
    const b = new NatsBus({ servers: NATS_URL, prefix, name: 'b' });
    await a.start();
    await b.start();
    try {
      const byBus = { a: [] as string[], b: [] as string[] };
      const handler = (name: 'a' | 'b') => async (d: { envelope: JobEnvelope }) => {
        byBus[name].push(d.envelope.id);
        await new Promise((r) => setTimeout(r, 20));
        return { status: 'succeeded' as const };
      };
      await a.consume('shared.work', handler('a'), { concurrency: 2 });
      await b.consume('shared.work', handler('b'), { concurrency: 2 });
      const ids: string[] = [];
      for (let i = 0; i < 40; i++) {
        const j = job('shared.work');
        ids.push(j.id);
        await a.enqueue(j);
      }
      await waitFor(() => byBus.a.length + byBus.b.length === 40, 'all jobs', 5000);
      assert.deepEqual([...byBus.a, ...byBus.b].sort(), ids.sort(), 'a job ran twice or not at all');
      assert.ok(byBus.a.length > 0 && byBus.b.length > 0, `one connection took everything: ${byBus.a.length}/${byBus.b.length}`);

      const events: string[] = [];
      await b.subscribe('events.*.document.processed', (e) => events.push(`${e.subject} ${String(e.correlationId)}`));
      await a.publish('events.team-9.document.processed', { documentId: 'd1' }, 'c-1');
      await waitFor(() => events.length === 1, 'event on the other connection', 5000);
      assert.deepEqual(events, ['events.team-9.document.processed c-1']);
    } finally {
      await a.close();
      await b.close();
      await deleteNatsBusStreams({ servers: NATS_URL, prefix });
    }
  });

  it('keeps dead letters in a stream, with error headers', async () => {
    const prefix = uniquePrefix();
    const bus = new NatsBus({ servers: NATS_URL, prefix });
    await bus.start();
    try {
      const j = job('dlq.work');
      let dead = 0;
      await bus.consume('dlq.work', async () => ({ status: 'failed', code: 'BAD_SCAN', message: 'unreadable\r\npage', retryable: false }), {
        onDeadLetter: () => void dead++,
      });
      await bus.enqueue(j);
      await waitFor(() => dead === 1, 'dead letter', 5000);
      const { connect } = await import('nats');
      const nc = await connect({ servers: NATS_URL });
      try {
        const jsm = await nc.jetstreamManager();
        const stored = await jsm.streams.getMessage(bus.deadLetterStream, { last_by_subj: `${prefix}.dead-letter.dlq.work` });
        assert.equal(stored.header.get('Quire-Error-Code'), 'BAD_SCAN');
        assert.equal(stored.header.get('Quire-Error-Message'), 'unreadable page');
        assert.equal(stored.header.get('Quire-Attempts'), '1');
        assert.equal(stored.header.get('Quire-Job-Id'), j.id);
        assert.deepEqual(stored.json<{ envelope: JobEnvelope }>().envelope, j);
        const jobs = await jsm.streams.info(bus.jobsStream);
        assert.equal(jobs.state.messages, 0, 'the dead-lettered job is still in the work queue');
      } finally {
        await nc.close();
      }
    } finally {
      await bus.close();
      await deleteNatsBusStreams({ servers: NATS_URL, prefix });
    }
  });

  it('keeps objects in a bucket whose max_age removes them on the server, readable from any connection', async () => {
    const prefix = uniquePrefix();
    const hub = new NatsBus({ servers: NATS_URL, prefix, name: 'hub', objectTtlMs: 1000 });
    const node = new NatsBus({ servers: NATS_URL, prefix, name: 'node', objectTtlMs: 1000 });
    await hub.start();
    await node.start();
    const { connect } = await import('nats');
    const nc = await connect({ servers: NATS_URL });
    try {
      const jsm = await nc.jetstreamManager();
      const stream = `OBJ_${hub.objectBucket}`;
      assert.equal(hub.objectBucket, `${prefix}_originals`);
      const config = (await jsm.streams.info(stream)).config;
      assert.equal(config.max_age, 1000 * 1_000_000);
      assert.equal(config.storage, 'file');

      const bytes = randomBytes(2 * 1024 * 1024 + 17);
      const key = randomUUID();
      await hub.putObject(key, bytes);
      const got = await node.getObject(key);
      assert.ok(got && Buffer.from(got).equals(bytes), 'the other connection read different bytes');
      const info = await jsm.streams.info(stream);
      // 128 KiB chunks plus the metadata entry: no message near the 1 MB limit.
      assert.equal(info.state.messages, Math.ceil(bytes.byteLength / (128 * 1024)) + 1);

      // The server itself removes chunks and metadata once max_age has passed.
      const deadline = Date.now() + 5000;
      let left = info.state.messages;
      while (left > 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        left = (await jsm.streams.info(stream)).state.messages;
      }
      assert.equal(left, 0, 'the bucket still holds messages after its max_age');
      assert.equal(await node.getObject(key), null);
    } finally {
      await nc.close();
      await hub.close();
      await node.close();
      await deleteNatsBusStreams({ servers: NATS_URL, prefix });
    }
    const { connect: reconnect } = await import('nats');
    const check = await reconnect({ servers: NATS_URL });
    try {
      const jsm = await check.jetstreamManager();
      await assert.rejects(jsm.streams.info(`OBJ_${prefix}_originals`), /stream not found/);
    } finally {
      await check.close();
    }
  });

  it('fails to start with BUS_UNAVAILABLE when no server listens', async () => {
    const bus = new NatsBus({ servers: 'nats://127.0.0.1:1', prefix: uniquePrefix(), timeoutMs: 1000 });
    await assert.rejects(bus.start(), { code: 'BUS_UNAVAILABLE' });
  });

  it('authenticates with a user and password, or a token, when the server asks', { timeout: 60_000 }, async (t) => {
    for (const [args, auth] of [
      [['--user', 'quire', '--pass', 's3cret-pass'], { user: 'quire', pass: 's3cret-pass' }],
      [['--auth', 's3cret-token'], { token: 's3cret-token' }],
    ] as const) {
      const port = await freePort();
      const server = spawn(
        'nats-server',
        ['--addr', '127.0.0.1', '--port', String(port), '--jetstream', '--store_dir', await tempDir(t), ...args],
        {
          stdio: 'ignore',
        },
      );
      t.after(() => server.kill('SIGKILL'));
      const servers = `nats://127.0.0.1:${port}`;
      await waitForAsync(
        async () => {
          const probe = new NatsBus({ servers, prefix: uniquePrefix(), timeoutMs: 500, auth });
          return probe.start().then(
            () => probe.close().then(() => true),
            () => false,
          );
        },
        'the server with authentication',
        15_000,
      );
      const anonymous = new NatsBus({ servers, prefix: uniquePrefix(), timeoutMs: 2000 });
      await assert.rejects(anonymous.start(), { code: 'BUS_UNAVAILABLE' }, 'a connection without credentials is refused');
      const wrong = new NatsBus({
        servers,
        prefix: uniquePrefix(),
        timeoutMs: 2000,
        auth: 'token' in auth ? { token: 'nope' } : { ...auth, pass: 'nope' },
      });
      await assert.rejects(wrong.start(), { code: 'BUS_UNAVAILABLE' }, 'wrong credentials are refused');
      const bus = new NatsBus({ servers, prefix: uniquePrefix(), auth });
      await bus.start();
      const got = new Promise<unknown>((resolve) => void bus.subscribe('events.t.ping', (e) => resolve(e.payload)));
      await new Promise((r) => setTimeout(r, 100));
      await bus.publish('events.t.ping', { ok: true });
      assert.deepEqual(await got, { ok: true });
      await bus.close();
    }
  });
});

describe('NatsBus readiness', () => {
  it(
    'says it is connected while its server answers, not while the server is down, again once it is back',
    { timeout: 60_000 },
    async (t) => {
      const port = await freePort();
      const store = await tempDir(t);
      const launch = () =>
        spawn('nats-server', ['--addr', '127.0.0.1', '--port', String(port), '--jetstream', '--store_dir', store], { stdio: 'ignore' });
      let server = launch();
      t.after(() => server.kill('SIGKILL'));
      const servers = `nats://127.0.0.1:${port}`;
      const bus = new NatsBus({ servers, prefix: uniquePrefix(), timeoutMs: 2000 });
      assert.equal(bus.connected(), false, 'not before start');
      await waitForAsync(
        () =>
          bus.start().then(
            () => true,
            () => false,
          ),
        'the bus started',
        15_000,
      );
      assert.equal(bus.connected(), true);
      server.kill('SIGTERM');
      await once(server, 'exit');
      await waitFor(() => !bus.connected(), 'the bus reports the lost server', 10_000);
      server = launch();
      await waitFor(() => bus.connected(), 'the bus reports the server back', 20_000);
      await bus.close();
      assert.equal(bus.connected(), false, 'not after close');
    },
  );
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function tempDir(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'quire-nats-auth-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}
