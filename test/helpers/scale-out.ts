/**
 * The scale-out topology as real processes: hub replicas (`quire hub`) on one MongoDB-wire
 * database (MongoDB store and GridFS originals), one Elasticsearch index and one NATS server,
 * behind a real HAProxy, with a `quire processor` node doing the processing. The database and
 * the index are fresh ones on the services script's servers (MONGODB_URL, default FerretDB on
 * 127.0.0.1:27017; ELASTICSEARCH_URL, default 127.0.0.1:9200), dropped by `stop()`; the NATS
 * server and the balancer are the test's own, on free ports.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@elastic/elasticsearch';
import mongoose from 'mongoose';
import { deleteIndexes } from '@quire/search/elasticsearch';
import { startBalancer, type Balancer } from './balancer.ts';
import { bearer, gql, OWNER, signIn, startHub, upload, type HubProcess, type StartHubOptions } from './hub.ts';
import { freePort, startNats, startProcessor, type NatsServer, type ProcessorProcess } from './topology.ts';

const MONGODB_SERVER = process.env.MONGODB_URL ?? 'mongodb://127.0.0.1:27017';
const ELASTICSEARCH_URL = process.env.ELASTICSEARCH_URL ?? 'http://127.0.0.1:9200';

export interface ScaleOut {
  /** The balancer's URL: what clients use. */
  url: string;
  /** The owner's token, signed in through the balancer. */
  ownerToken: string;
  ownerAuth: Record<string, string>;
  /** Each hub's current process (replaced by {@link ScaleOut.restartHub}), and its own URL. */
  hubs: HubProcess[];
  nats: NatsServer;
  processor: ProcessorProcess;
  balancer: Balancer;
  mongodbUrl: string;
  /** The NATS subject and stream prefix the hubs and the node share. */
  natsPrefix: string;
  gql(query: string, variables?: Record<string, unknown>): Promise<{ data?: any; errors?: any[] }>;
  upload(file: { name: string; data: Uint8Array; type?: string }): Promise<{ status: number; body: any }>;
  /** Starts hub `i` again on its port (after {@link HubProcess.kill9} or a stop). */
  startHub(i: number): Promise<HubProcess>;
  /** Stops hub `i` gracefully and starts it again on its port. */
  restartHub(i: number): Promise<HubProcess>;
  stop(): Promise<void>;
}

export async function startScaleOut(options: { hubs?: number; env?: Record<string, string> } = {}): Promise<ScaleOut> {
  const prefix = `scale-${randomUUID().slice(0, 8)}`;
  const mongodbUrl = `${MONGODB_SERVER.replace(/\/+$/, '')}/${prefix}`;
  const dataDir = await mkdtemp(join(tmpdir(), 'quire-scale-out-'));
  const ports = await Promise.all(Array.from({ length: options.hubs ?? 2 }, () => freePort()));
  const started: { stop(): Promise<unknown> }[] = [];
  const nats = await startNats();
  started.push(nats);
  const env = {
    STORE: 'mongodb',
    BLOBS: 'gridfs',
    MONGODB_URL: mongodbUrl,
    AUTH_SECRET: randomBytes(32).toString('base64url'),
    BUS: 'nats',
    NATS_URL: nats.url,
    NATS_PREFIX: prefix,
    SEARCH: 'elasticsearch',
    ELASTICSEARCH_URL,
    ELASTICSEARCH_INDEX_PREFIX: prefix,
    ...options.env,
  };
  const hubs: HubProcess[] = [];
  const launch = async (i: number): Promise<HubProcess> => {
    const hub = await startHub({ dataDir, role: 'hub', seedOwner: true, env: { ...env, PORT: String(ports[i]) } });
    hubs[i] = hub;
    return hub;
  };
  const dropDatabase = async () => {
    const connection = await mongoose.createConnection(mongodbUrl, { serverSelectionTimeoutMS: 3000 }).asPromise();
    await connection.dropDatabase();
    await connection.close();
  };
  const dropIndexes = async () => {
    const client = new Client({ node: ELASTICSEARCH_URL });
    try {
      await deleteIndexes(client, prefix);
    } finally {
      await client.close();
    }
  };
  const stopAll = async () => {
    for (const s of started.reverse()) await s.stop().catch(() => undefined);
    for (const hub of hubs) await hub?.stop({ keepData: true }).catch(() => undefined);
    await dropDatabase().catch(() => undefined);
    await dropIndexes().catch(() => undefined);
    await rm(dataDir, { recursive: true, force: true });
  };
  try {
    // One after the other: the first seeds the owner, the next finds it.
    for (let i = 0; i < ports.length; i++) await launch(i);
    const processor = await startProcessor({ natsUrl: nats.url, prefix });
    started.push({ stop: async () => (await processor.stop(), await processor.cleanUp()) });
    const balancer = await startBalancer(ports);
    started.push(balancer);
    const ownerToken = await signIn(balancer.url, OWNER.email, OWNER.password);
    const ownerAuth = bearer(ownerToken);
    return {
      url: balancer.url,
      ownerToken,
      ownerAuth,
      hubs,
      nats,
      processor,
      balancer,
      mongodbUrl,
      natsPrefix: prefix,
      gql: (query, variables = {}) => gql(balancer.url, query, variables, ownerAuth),
      upload: (file) => upload(balancer.url, file, ownerAuth),
      startHub: launch,
      async restartHub(i) {
        await hubs[i]!.stop({ keepData: true });
        return launch(i);
      },
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/**
 * The scale-out topology in the shape of one hub, for suites written against {@link startHub}:
 * its URL is the balancer's, its owner the seeded one, and its `child` the processor node (the
 * process whose pool runs the jobs).
 */
export async function scaleOutHub(options: StartHubOptions): Promise<HubProcess> {
  if (!options.seedOwner) throw new Error('the scale-out topology always seeds the owner: start the suite with seedOwner');
  const topology = await startScaleOut({ env: options.env });
  const [first] = topology.hubs;
  return {
    url: topology.url,
    dataDir: first!.dataDir,
    ownerToken: topology.ownerToken,
    ownerAuth: topology.ownerAuth,
    gql: topology.gql,
    upload: topology.upload,
    child: topology.processor.child,
    output: () => topology.hubs.map((h) => h.output()).join('\n') + topology.processor.output(),
    kill9: () => first!.kill9(),
    stop: () => topology.stop(),
  };
}
