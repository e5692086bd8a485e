/**
 * The one typed configuration of Quire, parsed from the environment once at start-up.
 * Every variable is listed here with its default and purpose; an invalid value stops the
 * process with a message naming each offending variable. `process.env` is read nowhere else.
 */
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ExecutionProviderChoice } from '@quire/processors';
import { z } from 'zod';

const bool = z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((v) => v === 'true' || v === '1' || v === 'yes');

const bytes = z
  .string()
  .regex(/^\d+(\.\d+)?\s*(b|kb|mb|gb)?$/i, 'expected a size such as 100mb, 512kb or 1048576')
  .transform((v) => {
    const m = /^(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?$/i.exec(v)!;
    const unit = (m[2] ?? 'b').toLowerCase();
    const mult = unit === 'gb' ? 1024 ** 3 : unit === 'mb' ? 1024 ** 2 : unit === 'kb' ? 1024 : 1;
    return Math.floor(Number(m[1]) * mult);
  });

/** A duration such as `15m`, `900s`, `12h` or `30d`; a bare number counts seconds. Parsed to ms. */
const duration = z
  .string()
  .regex(/^\d+\s*(ms|s|m|h|d)?$/i, 'expected a duration such as 15m, 900s, 12h or 30d')
  .transform((v) => {
    const m = /^(\d+)\s*(ms|s|m|h|d)?$/i.exec(v)!;
    const unit = (m[2] ?? 's').toLowerCase();
    const mult = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[unit]!;
    return Number(m[1]) * mult;
  })
  .refine((ms) => ms >= 1000, 'at least one second');

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** How log lines are written (LOG_FORMAT); `auto` is decided against stdout when the logger is made. */
export const LogFormat = { auto: 'auto', pretty: 'pretty', json: 'json' } as const;
/** One of {@link LogFormat}. */
export type LogFormat = (typeof LogFormat)[keyof typeof LogFormat];

/** Who may introspect the GraphQL schema (`__schema`, `__type`); `__typename` is always allowed. */
export const IntrospectionAccess = { Anonymous: 'anonymous', Authenticated: 'authenticated', Off: 'off' } as const;
/** One of {@link IntrospectionAccess}. */
export type IntrospectionAccess = (typeof IntrospectionAccess)[keyof typeof IntrospectionAccess];

/** Environment schema: the variable names are the public interface. */
const envSchema = z
  .object({
    /** HTTP port for Express, GraphQL (HTTP + graphql-ws) and Socket.IO. Default 4000; 0 picks a free port. */
    PORT: int(0, 65535).default(4000),
    /** Interface to bind. Default all interfaces. */
    HOST: z.string().min(1).default('0.0.0.0'),
    /** Where the SQLite file and blobs live. Default `./data`. */
    DATA_DIR: z.string().min(1).default('./data'),
    /** Local model files in the Hugging Face / transformers.js layout. Default `./.models`. */
    MODELS_DIR: z.string().min(1).default('./.models'),
    /** Cache for the tools that obtain models (Python venv, downloads). Default `~/.cache/quire`. */
    QUIRE_CACHE_DIR: z
      .string()
      .min(1)
      .default(resolve(homedir(), '.cache', 'quire')),
    /** Embedding model id (must be known to the model registry). */
    EMBEDDING_MODEL: z.string().min(1).default('Xenova/all-MiniLM-L6-v2'),
    /** Obtain missing models at start-up (otherwise refuse to start). Default true. */
    MODELS_AUTO_FETCH: bool.default(true),
    /**
     * Document store: `sqlite` (the embedded default, one file under DATA_DIR) or `mongodb`
     * (MONGODB_URL, shared by hub replicas; needs BUS=nats and AUTH_SECRET).
     */
    STORE: z.enum(['sqlite', 'mongodb']).default('sqlite'),
    /** Where originals are kept: `fs` (files under DATA_DIR/blobs) or `gridfs` (MongoDB GridFS at MONGODB_URL, shared by hub replicas). */
    BLOBS: z.enum(['fs', 'gridfs']).default('fs'),
    /** MongoDB connection string (with the database name), for STORE=mongodb and BLOBS=gridfs. Never logged. */
    MONGODB_URL: z
      .string()
      .regex(/^mongodb(\+srv)?:\/\//, 'a mongodb:// or mongodb+srv:// URL')
      .optional(),
    /**
     * Search index: `embedded` (SQLite FTS5 + sqlite-vec under DATA_DIR, one host) or
     * `elasticsearch` (ELASTICSEARCH_URL, shared by hub replicas on any host).
     */
    SEARCH: z.enum(['embedded', 'elasticsearch']).default('embedded'),
    /** Elasticsearch node(s), comma-separated, for SEARCH=elasticsearch; credentials may be in the URL. Never logged. */
    ELASTICSEARCH_URL: z
      .string()
      .regex(/^https?:\/\/[^,]+(,https?:\/\/[^,]+)*$/, 'http(s):// URLs, comma-separated')
      .optional(),
    /** An Elasticsearch API key (the base64 `id:key` form), instead of credentials in the URL. Never logged. */
    ELASTICSEARCH_API_KEY: z.string().min(1).optional(),
    /** Names of Quire's indexes: the alias `<prefix>-chunks`, so several installs can share a cluster. */
    ELASTICSEARCH_INDEX_PREFIX: z
      .string()
      .regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'lowercase letters, digits, - and _, at most 64')
      .default('quire'),
    /** HNSW variant of the vector field of a new index: float32 `hnsw`, or quantised `int8_hnsw`, `int4_hnsw`, `bbq_hnsw`. */
    ELASTICSEARCH_VECTOR_INDEX: z.enum(['hnsw', 'int8_hnsw', 'int4_hnsw', 'bbq_hnsw']).default('int8_hnsw'),
    /** Job bus: `memory` (in-process, durable in the store) or `nats` (JetStream). */
    BUS: z.enum(['memory', 'nats']).default('memory'),
    /** NATS server(s), comma-separated, when BUS=nats. */
    NATS_URL: z.string().min(1).default('nats://127.0.0.1:4222'),
    /** Namespace of streams and subjects on NATS, so several installs can share one server. */
    NATS_PREFIX: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{0,63}$/, 'lowercase letters, digits and -, at most 64')
      .default('quire'),
    /** With NATS_PASSWORD: the user NATS connections authenticate as. */
    NATS_USER: z.string().min(1).optional(),
    /** With NATS_USER: its password. Never logged. */
    NATS_PASSWORD: z.string().min(1).optional(),
    /** Instead of a user: the token NATS connections authenticate with. Never logged. */
    NATS_TOKEN: z.string().min(1).optional(),
    /** Largest accepted upload. Default 100mb. */
    UPLOAD_MAX_BYTES: bytes.default(100 * 1024 * 1024),
    /**
     * Which proxies in front of the hub to believe about the client's address (Express's
     * `trust proxy`: `true`, a hop count, or addresses/subnets such as `loopback, 10.0.0.0/8`).
     * Unset: none, so the address is the connection's. Set it behind a reverse proxy, or every
     * client shares the proxy's address in the sign-in limits and the audit log.
     */
    TRUST_PROXY: z
      .string()
      .min(1)
      .transform((v) => (v === 'true' ? true : v === 'false' ? false : /^\d+$/.test(v) ? Number(v) : v))
      .default(false),
    /** Largest GraphQL request body, graphql-ws message and Socket.IO message. Default 1mb. */
    REQUEST_BODY_MAX_BYTES: bytes.default(1024 * 1024),
    /** Failed sign-ins per account within SIGNIN_LIMIT_WINDOW before it is refused for the rest of it. Default 10. */
    SIGNIN_FAILURES_PER_ACCOUNT: int(1, 1_000_000).default(10),
    /** Failed sign-ins per client address within SIGNIN_LIMIT_WINDOW. Default 50. */
    SIGNIN_FAILURES_PER_ADDRESS: int(1, 1_000_000).default(50),
    /** The window of the sign-in limits. Default 15m. */
    SIGNIN_LIMIT_WINDOW: duration.default(15 * 60_000),
    /** Uploads per team per minute (people and API keys together). Default 600. */
    UPLOADS_PER_TEAM_PER_MINUTE: int(1, 1_000_000).default(600),
    /** Deepest GraphQL selection accepted. Default 10. */
    GRAPHQL_MAX_DEPTH: int(2, 100).default(10),
    /** Highest estimated GraphQL cost accepted (each object costs 1, lists multiply by their size). Default 20000. */
    GRAPHQL_MAX_COST: int(10, 10_000_000).default(20_000),
    /**
     * Who may ask GraphQL for the schema's own description (`__schema`, `__type`):
     * `anonymous` (anyone), `authenticated` (callers with a valid token or API key) or `off`.
     * Default `anonymous` in development and `authenticated` when NODE_ENV=production, so a
     * public hub does not describe its API to strangers. Whoever asks, introspection is
     * bounded in depth (24 levels, enough for the standard introspection query, or
     * GRAPHQL_MAX_DEPTH when higher) like every other operation.
     */
    GRAPHQL_INTROSPECTION: z.enum(IntrospectionAccess).optional(),
    /** `production` turns on the production defaults (GRAPHQL_INTROSPECTION). Default `development`. */
    NODE_ENV: z.string().min(1).default('development'),
    /**
     * Serve `/metrics` (Prometheus) on a port of its own, on METRICS_HOST, and not on PORT
     * (which then answers 404 there). Unset: `/metrics` is served on PORT, to anyone who can
     * reach it unless METRICS_TOKEN is set; 0 picks a free port. Any other value must differ
     * from PORT: both servers cannot listen on one port.
     */
    METRICS_PORT: int(0, 65535).optional(),
    /** Interface of METRICS_PORT. Default 127.0.0.1: only this machine may scrape. */
    METRICS_HOST: z.string().min(1).default('127.0.0.1'),
    /**
     * When set, `/metrics` (on whichever port serves it) answers only requests with
     * `Authorization: Bearer <METRICS_TOKEN>` (at least 16 characters), else 401. Unset: no token.
     */
    METRICS_TOKEN: z.string().min(16, 'at least 16 characters').optional(),
    /** Pipeline worker threads. Default 1 (OCR uses its own threads too). */
    PROCESSOR_WORKERS: int(1, 64).default(1),
    /** tesseract.js workers per pipeline worker. Default 1. */
    OCR_WORKERS: int(1, 16).default(1),
    /**
     * Where pipeline processes run the embedding model: `cpu`; `cuda` (onnxruntime's CUDA
     * execution provider, for GPU nodes; when its libraries or a device are missing, the CPU,
     * with a warning naming why); or `auto` (CUDA when it starts, else the CPU, quietly).
     * Default `cpu`. Queries embedded by the hub itself always run on the CPU.
     */
    EXECUTION_PROVIDER: z.enum(ExecutionProviderChoice).default('cpu'),
    /** A job running longer than this is stopped and retried. Default 10 minutes. */
    JOB_TIMEOUT_MS: int(1000, 24 * 3600 * 1000).default(10 * 60 * 1000),
    /**
     * Memory limit per pipeline process, MB: its resident set (the model and OCR engine take
     * about 600 of it) and its heap. A document that needs more fails with
     * WORKER_OUT_OF_MEMORY and the process is replaced, so the hub's own memory is never at
     * stake; after a job, a process still holding three quarters of it is replaced too. At
     * least 1024. Default 1536: a hub and one pipeline process fit in a 2 GB container.
     */
    WORKER_MAX_MEMORY_MB: int(1024, 65536).default(1536),
    /** Attempts before a job is dead-lettered and its document marked failed. Default 3. */
    JOB_MAX_ATTEMPTS: int(1, 100).default(3),
    /** First retry delay in ms; doubles each attempt. Default 2000. */
    JOB_RETRY_BASE_MS: int(10, 3600 * 1000).default(2000),
    /** Most pages processed for one document. Default 2000. */
    MAX_PAGES: int(1, 100000).default(2000),
    /**
     * Most passages (chunks of about 500 characters) one document may have; a longer one
     * fails with DOCUMENT_TOO_LONG before it is embedded, so one upload cannot hold a worker
     * for hours. Default 10000 (about 5 million characters).
     */
    MAX_CHUNKS: int(1, 10_000_000).default(10_000),
    /** Built UI to serve at `/`. Default the web workspace's `build` folder. */
    WEB_DIR: z
      .string()
      .min(1)
      .default(fileURLToPath(new URL('../../web/build', import.meta.url))),
    /**
     * Key that signs access tokens (HS256), at least 32 characters. Unset: a random key is
     * generated once and kept in `DATA_DIR/auth-secret` (mode 0600), so restarts keep sessions.
     * Set it when several hubs must accept each other's tokens.
     */
    AUTH_SECRET: z.string().min(32, 'at least 32 characters').optional(),
    /** Lifetime of an access token. Short, because it is checked without a database read of its own. Default 15m. */
    AUTH_ACCESS_TTL: duration.default(15 * 60_000),
    /** Lifetime of a refresh token; each refresh starts it again. Default 30d. */
    AUTH_REFRESH_TTL: duration.default(30 * 86_400_000),
    /** How long an invitation can be accepted. Default 7d. */
    AUTH_INVITATION_TTL: duration.default(7 * 86_400_000),
    /** Let anyone sign up without an invitation (each new account gets a team of its own). Default false. */
    OPEN_SIGNUP: bool.default(false),
    /** With QUIRE_ADMIN_PASSWORD: on a fresh install, the owner account created at start-up. */
    QUIRE_ADMIN_EMAIL: z.email().optional(),
    /** With QUIRE_ADMIN_EMAIL: that account's password (at least 10 characters). Never logged. */
    QUIRE_ADMIN_PASSWORD: z.string().min(10, 'at least 10 characters').max(1024).optional(),
    /** Log level. Default info. */
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /**
     * How log lines are written to stdout: `pretty` (readable lines for a person), `json` (one
     * JSON object per line, for log collectors) or `auto` (pretty when stdout is a terminal, JSON
     * otherwise, so `npm start` reads well and pipes and containers keep JSON). Default auto.
     */
    LOG_FORMAT: z.enum(LogFormat).default('auto'),
    /** Replaced by LOG_FORMAT; refused rather than ignored so a setting that no longer works is noticed. */
    LOG_PRETTY: z.never('replaced by LOG_FORMAT=pretty|json|auto').optional(),
  })
  .superRefine((e, ctx) => {
    if ((e.QUIRE_ADMIN_EMAIL === undefined) !== (e.QUIRE_ADMIN_PASSWORD === undefined)) {
      const missing = e.QUIRE_ADMIN_EMAIL === undefined ? 'QUIRE_ADMIN_EMAIL' : 'QUIRE_ADMIN_PASSWORD';
      ctx.addIssue({ code: 'custom', path: [missing], message: 'set QUIRE_ADMIN_EMAIL and QUIRE_ADMIN_PASSWORD together' });
    }
    if (e.BLOBS === 'gridfs' && e.MONGODB_URL === undefined) {
      ctx.addIssue({ code: 'custom', path: ['MONGODB_URL'], message: 'required with BLOBS=gridfs' });
    }
    if (e.SEARCH === 'elasticsearch' && e.ELASTICSEARCH_URL === undefined) {
      ctx.addIssue({ code: 'custom', path: ['ELASTICSEARCH_URL'], message: 'required with SEARCH=elasticsearch' });
    }
    if (e.STORE === 'mongodb') {
      if (e.MONGODB_URL === undefined) ctx.addIssue({ code: 'custom', path: ['MONGODB_URL'], message: 'required with STORE=mongodb' });
      // Replicas must verify each other's tokens: a key generated per data directory would differ.
      if (e.AUTH_SECRET === undefined) {
        ctx.addIssue({ code: 'custom', path: ['AUTH_SECRET'], message: 'required with STORE=mongodb, where hubs share their accounts' });
      }
      // Accepted jobs must outlive a hub and reach whichever hub or node is free.
      if (e.BUS !== 'nats') ctx.addIssue({ code: 'custom', path: ['BUS'], message: 'must be nats with STORE=mongodb' });
    }
    if ((e.NATS_USER === undefined) !== (e.NATS_PASSWORD === undefined)) {
      const missing = e.NATS_USER === undefined ? 'NATS_USER' : 'NATS_PASSWORD';
      ctx.addIssue({ code: 'custom', path: [missing], message: 'set NATS_USER and NATS_PASSWORD together' });
    }
    if (e.NATS_TOKEN !== undefined && e.NATS_USER !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['NATS_TOKEN'], message: 'set NATS_TOKEN or NATS_USER and NATS_PASSWORD, not both' });
    }
    if (e.METRICS_PORT !== undefined && e.METRICS_PORT !== 0 && e.METRICS_PORT === e.PORT) {
      ctx.addIssue({ code: 'custom', path: ['METRICS_PORT'], message: 'must differ from PORT (or be 0 for a free port)' });
    }
  });

/** Frozen configuration grouped by concern. */
export interface Config {
  readonly http: { readonly port: number; readonly host: string; readonly trustProxy: boolean | number | string };
  /** `mongodbUrl` is set with `mongodb`; `sqlitePath` is the embedded store's file. */
  readonly store: {
    readonly driver: 'sqlite' | 'mongodb';
    readonly dataDir: string;
    readonly sqlitePath: string;
    readonly blobDir: string;
    readonly mongodbUrl: string | null;
  };
  /** Where originals are kept; `mongodbUrl` is set with `gridfs`. */
  readonly blobs: { readonly driver: 'fs' | 'gridfs'; readonly mongodbUrl: string | null };
  /**
   * `sqlitePath`: the embedded index's file, the store's own with STORE=sqlite, else
   * DATA_DIR/search.sqlite (hub replicas on one host share it through DATA_DIR);
   * `elasticsearch` is set with SEARCH=elasticsearch.
   */
  readonly search: {
    readonly driver: 'embedded' | 'elasticsearch';
    readonly sqlitePath: string;
    readonly elasticsearch: {
      readonly nodes: string[];
      readonly apiKey: string | null;
      readonly indexPrefix: string;
      readonly vectorIndexType: 'hnsw' | 'int8_hnsw' | 'int4_hnsw' | 'bbq_hnsw';
    } | null;
  };
  readonly bus: {
    readonly driver: 'memory' | 'nats';
    readonly natsUrl: string;
    readonly natsPrefix: string;
    /** How NATS connections authenticate; undefined when the server asks for nothing. */
    readonly natsAuth: { readonly user: string; readonly pass: string } | { readonly token: string } | undefined;
  };
  readonly models: { readonly dir: string; readonly cacheDir: string; readonly embeddingModel: string; readonly autoFetch: boolean };
  readonly processing: {
    readonly workers: number;
    readonly ocrWorkers: number;
    /** Asked for; the pool reports what each node actually uses. */
    readonly executionProvider: ExecutionProviderChoice;
    readonly jobTimeoutMs: number;
    readonly workerMaxMemoryMb: number;
    readonly maxAttempts: number;
    readonly retryBaseMs: number;
    readonly maxPages: number;
    readonly maxChunks: number;
  };
  readonly limits: {
    readonly uploadMaxBytes: number;
    readonly requestBodyMaxBytes: number;
    readonly signIn: { readonly failuresPerAccount: number; readonly failuresPerAddress: number; readonly windowMs: number };
    readonly uploadsPerTeamPerMinute: number;
    readonly graphql: { readonly maxDepth: number; readonly maxCost: number };
  };
  /** Who may introspect the GraphQL schema. */
  readonly graphql: { readonly introspection: IntrospectionAccess };
  /** Where `/metrics` is served (`port` null: on the HTTP port) and the token it asks for, if any. */
  readonly metrics: { readonly port: number | null; readonly host: string; readonly token: string | null };
  readonly auth: {
    /** null: generate once and keep under the data directory. */
    readonly secret: string | null;
    readonly accessTtlMs: number;
    readonly refreshTtlMs: number;
    readonly invitationTtlMs: number;
    readonly openSignup: boolean;
    /** The owner to create on a fresh install, if any. */
    readonly admin: { readonly email: string; readonly password: string } | null;
  };
  /** `format` as asked; `auto` is resolved against stdout by `createLogger`. */
  readonly log: { readonly level: string; readonly format: LogFormat };
  readonly ui: { readonly dir: string };
}

/** A configuration that cannot be used; the message names every offending variable. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Parses and validates the environment; throws {@link ConfigError} listing every problem. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  // Empty strings count as unset so `PORT=` behaves like no PORT at all.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(cleaned);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}${describeValue(cleaned, i.path)}`));
  }
  const e = parsed.data;
  const dataDir = resolve(e.DATA_DIR);
  return deepFreeze({
    http: { port: e.PORT, host: e.HOST, trustProxy: e.TRUST_PROXY },
    store: {
      driver: e.STORE,
      dataDir,
      sqlitePath: resolve(dataDir, 'quire.sqlite'),
      blobDir: resolve(dataDir, 'blobs'),
      mongodbUrl: e.MONGODB_URL ?? null,
    },
    blobs: { driver: e.BLOBS, mongodbUrl: e.MONGODB_URL ?? null },
    search: {
      driver: e.SEARCH,
      sqlitePath: resolve(dataDir, e.STORE === 'sqlite' ? 'quire.sqlite' : 'search.sqlite'),
      elasticsearch:
        e.SEARCH === 'elasticsearch'
          ? {
              nodes: e.ELASTICSEARCH_URL!.split(','),
              apiKey: e.ELASTICSEARCH_API_KEY ?? null,
              indexPrefix: e.ELASTICSEARCH_INDEX_PREFIX,
              vectorIndexType: e.ELASTICSEARCH_VECTOR_INDEX,
            }
          : null,
    },
    bus: {
      driver: e.BUS,
      natsUrl: e.NATS_URL,
      natsPrefix: e.NATS_PREFIX,
      natsAuth:
        e.NATS_USER !== undefined && e.NATS_PASSWORD !== undefined
          ? { user: e.NATS_USER, pass: e.NATS_PASSWORD }
          : e.NATS_TOKEN !== undefined
            ? { token: e.NATS_TOKEN }
            : undefined,
    },
    models: {
      dir: resolve(e.MODELS_DIR),
      cacheDir: resolve(e.QUIRE_CACHE_DIR),
      embeddingModel: e.EMBEDDING_MODEL,
      autoFetch: e.MODELS_AUTO_FETCH,
    },
    processing: {
      workers: e.PROCESSOR_WORKERS,
      ocrWorkers: e.OCR_WORKERS,
      executionProvider: e.EXECUTION_PROVIDER,
      jobTimeoutMs: e.JOB_TIMEOUT_MS,
      workerMaxMemoryMb: e.WORKER_MAX_MEMORY_MB,
      maxAttempts: e.JOB_MAX_ATTEMPTS,
      retryBaseMs: e.JOB_RETRY_BASE_MS,
      maxPages: e.MAX_PAGES,
      maxChunks: e.MAX_CHUNKS,
    },
    limits: {
      uploadMaxBytes: e.UPLOAD_MAX_BYTES,
      requestBodyMaxBytes: e.REQUEST_BODY_MAX_BYTES,
      signIn: {
        failuresPerAccount: e.SIGNIN_FAILURES_PER_ACCOUNT,
        failuresPerAddress: e.SIGNIN_FAILURES_PER_ADDRESS,
        windowMs: e.SIGNIN_LIMIT_WINDOW,
      },
      uploadsPerTeamPerMinute: e.UPLOADS_PER_TEAM_PER_MINUTE,
      graphql: { maxDepth: e.GRAPHQL_MAX_DEPTH, maxCost: e.GRAPHQL_MAX_COST },
    },
    graphql: { introspection: e.GRAPHQL_INTROSPECTION ?? (e.NODE_ENV === 'production' ? 'authenticated' : 'anonymous') },
    metrics: { port: e.METRICS_PORT ?? null, host: e.METRICS_HOST, token: e.METRICS_TOKEN ?? null },
    auth: {
      secret: e.AUTH_SECRET ?? null,
      accessTtlMs: e.AUTH_ACCESS_TTL,
      refreshTtlMs: e.AUTH_REFRESH_TTL,
      invitationTtlMs: e.AUTH_INVITATION_TTL,
      openSignup: e.OPEN_SIGNUP,
      admin: e.QUIRE_ADMIN_EMAIL && e.QUIRE_ADMIN_PASSWORD ? { email: e.QUIRE_ADMIN_EMAIL, password: e.QUIRE_ADMIN_PASSWORD } : null,
    },
    log: { level: e.LOG_LEVEL, format: e.LOG_FORMAT },
    ui: { dir: resolve(e.WEB_DIR) },
  });
}

/** Variables whose values are never repeated in a message. */
const SECRET_VARIABLES = new Set([
  'AUTH_SECRET',
  'QUIRE_ADMIN_PASSWORD',
  'METRICS_TOKEN',
  'NATS_PASSWORD',
  'NATS_TOKEN',
  'MONGODB_URL',
  'ELASTICSEARCH_URL',
  'ELASTICSEARCH_API_KEY',
]);

function describeValue(env: Record<string, string | undefined>, path: PropertyKey[]): string {
  const key = path[0];
  if (typeof key !== 'string' || env[key] === undefined) return '';
  return SECRET_VARIABLES.has(key) ? ' (value not shown)' : ` (got ${JSON.stringify(env[key])})`;
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
