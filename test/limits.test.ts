/**
 * The limits of a real hub, set low through its environment: failed sign-ins per account and
 * per address, uploads per team, GraphQL depth and cost (over HTTP and graphql-ws) and request
 * body sizes. Each refusal carries its code: 429 RATE_LIMITED, QUERY_TOO_COMPLEX,
 * 413 PAYLOAD_TOO_LARGE.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { OWNER, bearer, gql, startHub, upload, type HubProcess } from './helpers/hub.ts';

const PASSWORD = 'correct horse battery staple';
const FAILURES_PER_ACCOUNT = 3;
const FAILURES_PER_ADDRESS = 6;
const UPLOADS_PER_MINUTE = 3;
const text = (s: string) => new TextEncoder().encode(s);

let hub: HubProcess;

before(async () => {
  hub = await startHub({
    seedOwner: true,
    env: {
      OPEN_SIGNUP: 'true',
      SIGNIN_FAILURES_PER_ACCOUNT: String(FAILURES_PER_ACCOUNT),
      SIGNIN_FAILURES_PER_ADDRESS: String(FAILURES_PER_ADDRESS),
      UPLOADS_PER_TEAM_PER_MINUTE: String(UPLOADS_PER_MINUTE),
      GRAPHQL_MAX_DEPTH: '4',
      GRAPHQL_MAX_COST: '300',
      REQUEST_BODY_MAX_BYTES: '4kb',
    },
  });
});

after(async () => {
  await hub?.stop();
});

/** A sign-in over HTTP: status, Retry-After and the first error. */
async function attemptSignIn(email: string, password: string) {
  const res = await fetch(`${hub.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      query: `mutation($e: String!, $p: String!) { signIn(email: $e, password: $p) { accessToken } }`,
      variables: { e: email, p: password },
    }),
  });
  const body = (await res.json()) as { errors?: { message: string; extensions: { code: string } }[] };
  return {
    status: res.status,
    retryAfter: res.headers.get('retry-after'),
    code: body.errors?.[0]?.extensions.code,
    message: body.errors?.[0]?.message,
  };
}

async function signUp(email: string): Promise<string> {
  const res = await gql(hub.url, `mutation($i: SignUpInput!) { signUp(input: $i) { accessToken } }`, { i: { email, password: PASSWORD } });
  assert.equal(res.errors, undefined, JSON.stringify(res.errors));
  return res.data.signUp.accessToken;
}

describe('sign-in rate limits', () => {
  test('an account with too many failures is refused, even with its password, with 429 and Retry-After', async () => {
    for (let i = 0; i < FAILURES_PER_ACCOUNT; i++) {
      assert.equal((await attemptSignIn(OWNER.email, 'not the password')).code, 'INVALID_CREDENTIALS');
    }
    const limited = await attemptSignIn(OWNER.email, OWNER.password);
    assert.equal(limited.code, 'RATE_LIMITED');
    assert.equal(limited.status, 429);
    assert.match(limited.message ?? '', /for this account/);
    assert.ok(Number(limited.retryAfter) >= 1 && Number(limited.retryAfter) <= 15 * 60, `Retry-After ${limited.retryAfter}`);
  });

  test('an address with too many failures is refused for every account', async () => {
    await signUp('patient@example.org');
    // Each attempt so far from this address counted against it; fail on unknown accounts until the address is refused.
    let refusedAfter = 0;
    for (let i = 1; i <= FAILURES_PER_ADDRESS + 1; i++) {
      const res = await attemptSignIn(`nobody-${i}@example.org`, 'not the password');
      if (res.code === 'RATE_LIMITED') {
        assert.match(res.message ?? '', /from this address/);
        refusedAfter = i;
        break;
      }
      assert.equal(res.code, 'INVALID_CREDENTIALS');
    }
    assert.ok(refusedAfter > 0, 'the address was refused');
    const rightPassword = await attemptSignIn('patient@example.org', PASSWORD);
    assert.equal(rightPassword.code, 'RATE_LIMITED', 'a good password from a refused address waits too');
    assert.equal(rightPassword.status, 429);
  });
});

describe('upload rate limit', () => {
  test("a team's uploads beyond the limit answer 429 RATE_LIMITED; another team is not affected", async () => {
    for (let i = 0; i < UPLOADS_PER_MINUTE; i++) {
      const res = await hub.upload({ name: `memo-${i}.txt`, data: text(`Memo number ${i}.\n`) });
      assert.equal(res.status, 202, JSON.stringify(res.body));
    }
    const form = new FormData();
    form.append('file', new Blob([text('One memo too many.\n')]), 'too-many.txt');
    const limited = await fetch(`${hub.url}/api/documents`, { method: 'POST', body: form, headers: hub.ownerAuth });
    assert.equal(limited.status, 429);
    assert.ok(Number(limited.headers.get('retry-after')) >= 1);
    assert.equal(((await limited.json()) as { error: { code: string } }).error.code, 'RATE_LIMITED');
    const list = await hub.gql(`{ documents(first: 10) { totalCount } }`);
    assert.equal(list.data.documents.totalCount, UPLOADS_PER_MINUTE, 'the refused upload stored nothing');

    const otherTeam = await signUp('other-team@example.org');
    assert.equal((await upload(hub.url, { name: 'theirs.txt', data: text('Their memo.\n') }, bearer(otherTeam))).status, 202);
  });
});

describe('GraphQL depth and cost limits', () => {
  const post = async (query: string, variables: Record<string, unknown> = {}) => {
    const res = await fetch(`${hub.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...hub.ownerAuth },
      body: JSON.stringify({ query, variables }),
    });
    return {
      status: res.status,
      body: (await res.json()) as { data?: unknown; errors?: { extensions: { code: string; details?: any } }[] },
    };
  };

  test('a selection deeper than the limit is refused over HTTP before it runs', async () => {
    assert.equal((await post(`{ documents { nodes { job { id } } } }`)).body.errors, undefined);
    const deep = await post(`{ documents { nodes { pages { words { text } } } } }`);
    assert.equal(deep.status, 400);
    assert.equal(deep.body.errors?.[0]?.extensions.code, 'QUERY_TOO_COMPLEX');
    assert.deepEqual(deep.body.errors?.[0]?.extensions.details, { maxDepth: 4, depth: 5 });
    assert.equal(deep.body.data, undefined);
  });

  test('an operation costing more than the limit is refused, sized by its variables', async () => {
    const query = `query($n: Int) { documents(first: $n) { nodes { id chunks { text } } } }`;
    assert.equal((await post(query, { n: 5 })).body.errors, undefined);
    const costly = await post(query, { n: 200 });
    assert.equal(costly.body.errors?.[0]?.extensions.code, 'QUERY_TOO_COMPLEX');
    assert.equal(costly.body.errors?.[0]?.extensions.details.maxCost, 300);
  });

  test('variables that do not fit the operation are refused as bad input, before it runs', async () => {
    const query = `query($n: Int!) { documents(first: $n) { totalCount } }`;
    for (const variables of [{}, { n: 'five' }, { n: null }]) {
      const refused = await post(query, variables);
      assert.equal(refused.status, 400, JSON.stringify(variables));
      assert.equal(refused.body.errors?.[0]?.extensions.code, 'BAD_USER_INPUT');
      assert.equal(refused.body.data, undefined);
    }
    assert.equal(typeof ((await post(query, { n: 1 })).body.data as any)?.documents.totalCount, 'number');
  });

  test('the limits apply to graphql-ws subscriptions too', async () => {
    const client = createClient({
      url: hub.url.replace('http', 'ws') + '/graphql',
      webSocketImpl: WebSocket,
      connectionParams: { token: hub.ownerToken },
    });
    try {
      const code = await new Promise<string | undefined>((resolve, reject) => {
        client.subscribe(
          { query: `subscription { documentEvents { document { pages { words { text } } } } }` },
          {
            next: () => resolve('an event'),
            error: (err) => (Array.isArray(err) ? resolve(err[0]?.extensions?.code) : reject(err)),
            complete: () => resolve(undefined),
          },
        );
      });
      assert.equal(code, 'QUERY_TOO_COMPLEX');
    } finally {
      await client.dispose();
    }
  });
});

describe('request body limits', () => {
  test('a GraphQL body over the limit answers 413 PAYLOAD_TOO_LARGE, and one that is not JSON 400 BAD_JSON', async () => {
    const big = await fetch(`${hub.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...hub.ownerAuth },
      body: JSON.stringify({ query: `{ me { user { id } } }`, variables: { padding: 'x'.repeat(8 * 1024) } }),
    });
    assert.equal(big.status, 413);
    assert.equal(((await big.json()) as { error: { code: string } }).error.code, 'PAYLOAD_TOO_LARGE');
    const broken = await fetch(`${hub.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"query": ',
    });
    assert.equal(broken.status, 400);
    assert.equal(((await broken.json()) as { error: { code: string } }).error.code, 'BAD_JSON');
  });

  test('a graphql-ws message over the limit closes the connection with 1009', async () => {
    const closed = new Promise<number>((resolve) => {
      const client = createClient({
        url: hub.url.replace('http', 'ws') + '/graphql',
        webSocketImpl: WebSocket,
        connectionParams: { token: hub.ownerToken },
        retryAttempts: 0,
        on: { closed: (event) => resolve((event as { code: number }).code) },
      });
      client.subscribe(
        { query: `{ me { user { id } } }`, variables: { padding: 'x'.repeat(8 * 1024) } },
        { next: () => {}, error: () => {}, complete: () => {} },
      );
    });
    assert.equal(await closed, 1009);
  });
});
