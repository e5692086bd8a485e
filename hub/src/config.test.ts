import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from './config.ts';

/** Asserts that `env` is refused, and returns the error for closer checks. */
function refused(env: Record<string, string>): ConfigError {
  let caught: unknown;
  assert.throws(
    () => loadConfig(env),
    (err: unknown) => {
      caught = err;
      return err instanceof ConfigError;
    },
  );
  return caught as ConfigError;
}

describe('loadConfig', () => {
  it('defaults to the embedded mode: port 4000, ./data, in-process bus, 100 MB uploads', () => {
    const config = loadConfig({});
    const dataDir = resolve('data');
    assert.deepEqual(config.http, { port: 4000, host: '0.0.0.0', trustProxy: false });
    assert.equal(loadConfig({ TRUST_PROXY: '1' }).http.trustProxy, 1);
    assert.equal(loadConfig({ TRUST_PROXY: 'loopback, 10.0.0.0/8' }).http.trustProxy, 'loopback, 10.0.0.0/8');
    assert.deepEqual(config.store, {
      driver: 'sqlite',
      dataDir,
      sqlitePath: join(dataDir, 'quire.sqlite'),
      blobDir: join(dataDir, 'blobs'),
      mongodbUrl: null,
    });
    assert.ok(isAbsolute(config.store.dataDir));
    assert.deepEqual(config.search, { driver: 'embedded', sqlitePath: join(dataDir, 'quire.sqlite'), elasticsearch: null });
    assert.equal(config.bus.driver, 'memory');
    assert.equal(config.limits.uploadMaxBytes, 100 * 1024 * 1024);
    assert.equal(config.log.level, 'info');
    assert.equal(config.log.format, 'auto');
    assert.ok(isAbsolute(config.models.dir) && isAbsolute(config.ui.dir));
  });

  it('reads only the environment it is given', () => {
    assert.deepEqual(loadConfig({}), loadConfig({ UNRELATED: 'x', npm_config_cache: 'y' }));
  });

  it('parses sizes with and without units', () => {
    const cases: [string, number][] = [
      ['5mb', 5 * 1024 * 1024],
      ['5MB', 5 * 1024 * 1024],
      ['512kb', 512 * 1024],
      ['10 kb', 10 * 1024],
      ['1.5gb', 1.5 * 1024 ** 3],
      ['1048576', 1048576],
      ['900b', 900],
    ];
    for (const [value, bytes] of cases) {
      assert.equal(loadConfig({ UPLOAD_MAX_BYTES: value }).limits.uploadMaxBytes, bytes, value);
    }
  });

  it('applies valid overrides and resolves DATA_DIR', () => {
    const dataDir = join(tmpdir(), 'quire-config-test');
    const config = loadConfig({ PORT: '0', BUS: 'nats', NATS_URL: 'nats://10.0.0.5:4222', DATA_DIR: dataDir, LOG_FORMAT: 'json' });
    assert.equal(config.http.port, 0);
    assert.deepEqual(config.bus, { driver: 'nats', natsUrl: 'nats://10.0.0.5:4222', natsPrefix: 'quire', natsAuth: undefined });
    assert.equal(config.store.sqlitePath, join(dataDir, 'quire.sqlite'));
    assert.equal(config.log.format, 'json');
    assert.equal(loadConfig({ LOG_FORMAT: 'pretty' }).log.format, 'pretty');
    assert.equal(loadConfig({ DATA_DIR: 'var/quire' }).store.dataDir, resolve('var', 'quire'));
  });

  it('treats an empty variable as unset', () => {
    const config = loadConfig({ PORT: '', BUS: '', UPLOAD_MAX_BYTES: '' });
    assert.equal(config.http.port, 4000);
    assert.equal(config.bus.driver, 'memory');
    assert.equal(config.limits.uploadMaxBytes, 100 * 1024 * 1024);
  });

  it('lists every invalid variable at once, by name and value', () => {
    const err = refused({ PORT: 'abc', BUS: 'kafka', UPLOAD_MAX_BYTES: 'lots', HOST: 'localhost' });
    assert.equal(err.name, 'ConfigError');
    assert.ok(err instanceof Error);
    assert.equal(err.problems.length, 3, err.message);
    for (const [name, value] of [
      ['PORT', 'abc'],
      ['BUS', 'kafka'],
      ['UPLOAD_MAX_BYTES', 'lots'],
    ] as const) {
      const problem = err.problems.find((p) => p.startsWith(`${name}:`));
      assert.ok(problem, `no problem names ${name}: ${err.message}`);
      assert.ok(problem.includes(JSON.stringify(value)), problem);
      assert.ok(err.message.includes(problem), 'the message lists the problem');
    }
  });

  it('takes LOG_FORMAT auto, pretty or json, and refuses the LOG_PRETTY it replaced', () => {
    assert.equal(refused({ LOG_FORMAT: 'text' }).problems[0]?.split(':')[0], 'LOG_FORMAT');
    const err = refused({ LOG_PRETTY: 'true' });
    assert.deepEqual(
      err.problems.map((p) => p.split(':')[0]),
      ['LOG_PRETTY'],
    );
    assert.match(err.message, /replaced by LOG_FORMAT/);
  });

  it('takes EXECUTION_PROVIDER cpu (the default), cuda or auto, and refuses anything else', () => {
    assert.equal(loadConfig({}).processing.executionProvider, 'cpu');
    assert.equal(loadConfig({ EXECUTION_PROVIDER: 'cuda' }).processing.executionProvider, 'cuda');
    assert.equal(loadConfig({ EXECUTION_PROVIDER: 'auto' }).processing.executionProvider, 'auto');
    const err = refused({ EXECUTION_PROVIDER: 'gpu' });
    assert.deepEqual(
      err.problems.map((p) => p.split(':')[0]),
      ['EXECUTION_PROVIDER'],
    );
  });

  it('refuses ports outside 0..65535 and non-integers', () => {
    for (const port of ['65536', '-1', '4000.5', '80abc']) {
      const err = refused({ PORT: port });
      assert.deepEqual(
        err.problems.map((p) => p.split(':')[0]),
        ['PORT'],
        port,
      );
    }
  });

  it('refuses a metrics port that is the HTTP port, but lets both be 0', () => {
    for (const env of [{ METRICS_PORT: '4000' }, { PORT: '9100', METRICS_PORT: '9100' }] as Record<string, string>[]) {
      const err = refused(env);
      assert.deepEqual(
        err.problems.map((p) => p.split(':')[0]),
        ['METRICS_PORT'],
        JSON.stringify(env),
      );
      assert.match(err.message, /must differ from PORT/);
    }
    assert.equal(loadConfig({ PORT: '0', METRICS_PORT: '0' }).metrics.port, 0);
    assert.deepEqual(loadConfig({ PORT: '9100', METRICS_PORT: '9464' }).metrics, { port: 9464, host: '127.0.0.1', token: null });
    assert.equal(loadConfig({}).metrics.port, null);
  });

  it('returns a deeply frozen object', () => {
    const config = loadConfig({});
    assert.ok(Object.isFrozen(config));
    for (const group of Object.values(config)) assert.ok(Object.isFrozen(group));
    assert.throws(() => {
      (config as { http: unknown }).http = {};
    }, TypeError);
    assert.throws(() => {
      (config.limits as { uploadMaxBytes: number }).uploadMaxBytes = 1;
    }, TypeError);
    assert.equal(config.limits.uploadMaxBytes, 100 * 1024 * 1024);
  });

  it('defaults accounts to closed sign-up, 15-minute access tokens and a generated secret', () => {
    assert.deepEqual(loadConfig({}).auth, {
      secret: null,
      accessTtlMs: 15 * 60_000,
      refreshTtlMs: 30 * 86_400_000,
      invitationTtlMs: 7 * 86_400_000,
      openSignup: false,
      admin: null,
    });
  });

  it('parses account durations, open sign-up and the seeded owner', () => {
    const config = loadConfig({
      AUTH_SECRET: 'x'.repeat(32),
      AUTH_ACCESS_TTL: '90s',
      AUTH_REFRESH_TTL: '12h',
      AUTH_INVITATION_TTL: '2d',
      OPEN_SIGNUP: 'true',
      QUIRE_ADMIN_EMAIL: 'owner@example.org',
      QUIRE_ADMIN_PASSWORD: 'correct horse battery',
    });
    assert.deepEqual(config.auth, {
      secret: 'x'.repeat(32),
      accessTtlMs: 90_000,
      refreshTtlMs: 12 * 3_600_000,
      invitationTtlMs: 2 * 86_400_000,
      openSignup: true,
      admin: { email: 'owner@example.org', password: 'correct horse battery' },
    });
    assert.equal(loadConfig({ AUTH_ACCESS_TTL: '600' }).auth.accessTtlMs, 600_000, 'a bare number counts seconds');
    assert.equal(loadConfig({ AUTH_ACCESS_TTL: '1500ms' }).auth.accessTtlMs, 1500);
    assert.deepEqual(
      refused({ AUTH_ACCESS_TTL: '15 minutes' }).problems.map((p) => p.split(':')[0]),
      ['AUTH_ACCESS_TTL'],
    );
  });

  it('wants the seeded owner as a pair, and never repeats a secret in its message', () => {
    assert.deepEqual(
      refused({ QUIRE_ADMIN_EMAIL: 'owner@example.org' }).problems.map((p) => p.split(':')[0]),
      ['QUIRE_ADMIN_PASSWORD'],
    );
    const err = refused({ QUIRE_ADMIN_EMAIL: 'owner@example.org', QUIRE_ADMIN_PASSWORD: 'hunter2', AUTH_SECRET: 'short-secret' });
    assert.deepEqual(err.problems.map((p) => p.split(':')[0]).sort(), ['AUTH_SECRET', 'QUIRE_ADMIN_PASSWORD']);
    assert.ok(!err.message.includes('hunter2') && !err.message.includes('short-secret'), err.message);
  });

  it('keeps originals in files by default, or in GridFS at MONGODB_URL, which it then wants', () => {
    assert.deepEqual(loadConfig({}).blobs, { driver: 'fs', mongodbUrl: null });
    assert.deepEqual(loadConfig({ BLOBS: 'gridfs', MONGODB_URL: 'mongodb://db:27017/quire' }).blobs, {
      driver: 'gridfs',
      mongodbUrl: 'mongodb://db:27017/quire',
    });
    assert.deepEqual(
      refused({ BLOBS: 'gridfs' }).problems.map((p) => p.split(':')[0]),
      ['MONGODB_URL'],
    );
    const err = refused({ BLOBS: 's3', MONGODB_URL: 'postgres://user:pw-2@db/quire' });
    assert.deepEqual(err.problems.map((p) => p.split(':')[0]).sort(), ['BLOBS', 'MONGODB_URL']);
    assert.ok(!err.message.includes('pw-2'), 'a connection string is never repeated');
  });

  it('searches in Elasticsearch at ELASTICSEARCH_URL, which it then wants, and never repeats its credentials', () => {
    const config = loadConfig({ SEARCH: 'elasticsearch', ELASTICSEARCH_URL: 'http://es-1:9200,https://quire:pw-3@es-2:9200' });
    assert.deepEqual(config.search.elasticsearch, {
      nodes: ['http://es-1:9200', 'https://quire:pw-3@es-2:9200'],
      apiKey: null,
      indexPrefix: 'quire',
      vectorIndexType: 'int8_hnsw',
    });
    assert.deepEqual(
      refused({ SEARCH: 'elasticsearch' }).problems.map((p) => p.split(':')[0]),
      ['ELASTICSEARCH_URL'],
    );
    const err = refused({ SEARCH: 'opensearch', ELASTICSEARCH_URL: 'es://quire:pw-4@es', ELASTICSEARCH_INDEX_PREFIX: 'Quire!' });
    assert.deepEqual(err.problems.map((p) => p.split(':')[0]).sort(), ['ELASTICSEARCH_INDEX_PREFIX', 'ELASTICSEARCH_URL', 'SEARCH']);
    assert.ok(!err.message.includes('pw-4'), 'a connection string is never repeated');
  });

  it('runs on MongoDB only with MONGODB_URL, AUTH_SECRET and NATS, naming each that is missing', () => {
    const shared = { STORE: 'mongodb', MONGODB_URL: 'mongodb://db:27017/quire', BUS: 'nats', AUTH_SECRET: 'x'.repeat(40) };
    const config = loadConfig(shared);
    assert.equal(config.store.driver, 'mongodb');
    assert.equal(config.store.mongodbUrl, 'mongodb://db:27017/quire');
    assert.equal(config.search.sqlitePath, resolve(config.store.dataDir, 'search.sqlite'), 'the index leaves the store its database');
    assert.equal(loadConfig({}).search.sqlitePath, loadConfig({}).store.sqlitePath, 'embedded: one file');
    assert.deepEqual(
      refused({ STORE: 'mongodb' })
        .problems.map((p) => p.split(':')[0])
        .sort(),
      ['AUTH_SECRET', 'BUS', 'MONGODB_URL'],
    );
    const { AUTH_SECRET: _secret, ...withoutSecret } = shared;
    const err = refused(withoutSecret);
    assert.deepEqual(
      err.problems.map((p) => p.split(':')[0]),
      ['AUTH_SECRET'],
    );
    assert.match(err.message, /AUTH_SECRET: required with STORE=mongodb/);
    assert.ok(!err.message.includes('db:27017'), 'a connection string is never repeated');
  });

  it('takes NATS credentials as a user with a password, or a token, never both', () => {
    assert.equal(loadConfig({}).bus.natsAuth, undefined);
    assert.deepEqual(loadConfig({ NATS_USER: 'hub', NATS_PASSWORD: 'pw-1' }).bus.natsAuth, { user: 'hub', pass: 'pw-1' });
    assert.deepEqual(loadConfig({ NATS_TOKEN: 'tok-1' }).bus.natsAuth, { token: 'tok-1' });
    assert.deepEqual(
      refused({ NATS_USER: 'hub' }).problems.map((p) => p.split(':')[0]),
      ['NATS_PASSWORD'],
    );
    const err = refused({ NATS_USER: 'hub', NATS_PASSWORD: 'pw-1', NATS_TOKEN: 'tok-1' });
    assert.deepEqual(
      err.problems.map((p) => p.split(':')[0]),
      ['NATS_TOKEN'],
    );
    assert.ok(!err.message.includes('pw-1') && !err.message.includes('tok-1'), err.message);
  });
});
