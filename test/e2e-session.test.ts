/**
 * The web UI keeps a person's session through time and outages, in a real browser against a
 * real hub: access tokens that last seconds are refreshed without the person noticing (and
 * without the live connections dropping: no reconnect banner, not even for a moment), and a
 * hub that goes away, killed or stopped gracefully, shows the reconnect banner, which leaves by
 * itself once the hub is back (same port, same data), with the session intact and the lists live.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, test } from 'node:test';
import type { Page } from 'playwright-core';
import { useBrowser } from './helpers/browser.ts';
import { OWNER, startHub, type HubProcess } from './helpers/hub.ts';

let hub: HubProcess | undefined;
let port = 0;
const ENV = () => ({ PORT: String(port), AUTH_ACCESS_TTL: '8s' });

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port: p } = server.address() as { port: number };
      server.close(() => resolve(p));
    });
  });
}

const storedToken = (page: Page) =>
  page.evaluate(() => JSON.parse(localStorage.getItem('quire.session') ?? 'null')?.accessToken as string | undefined);

/** Waits until the page stored an access token other than `previous` (a refresh), and answers it. */
async function nextToken(page: Page, previous: string): Promise<string> {
  await page.waitForFunction((prev) => JSON.parse(localStorage.getItem('quire.session') ?? 'null')?.accessToken !== prev, previous, {
    timeout: 20_000,
  });
  const token = await storedToken(page);
  assert.ok(token && token !== previous, 'the access token was refreshed');
  return token;
}

/** The hub is back: the banner goes by itself, and a new upload arrives in the list without a reload. */
async function backAndLive(page: Page, name: string): Promise<void> {
  await page.waitForFunction(() => !document.querySelector('[data-testid="connection-banner"]')?.textContent?.trim(), null, {
    timeout: 30_000,
  });
  const upload = await hub!.upload({ name, data: new TextEncoder().encode(`The hub is back and so is ${name}.`), type: 'text/plain' });
  assert.equal(upload.status, 202);
  await page.getByTestId('document-row').filter({ hasText: name }).waitFor({ timeout: 30_000 });
  assert.equal(new URL(page.url()).pathname, '/', 'still signed in');
}

const chromium = useBrowser(async () => {
  port = await freePort();
  hub = await startHub({ seedOwner: true, env: ENV() });
});

after(async () => {
  await hub?.stop();
});

test(
  'short access tokens are refreshed silently; a lost hub shows the banner, which goes once it is back',
  { timeout: 300_000 },
  async (t) => {
    if (chromium.skip(t)) return;
    const context = await chromium.browser.newContext({ baseURL: hub!.url });
    t.after(() => context.close());
    const page = await context.newPage();
    page.setDefaultTimeout(20_000);
    await page.goto('/signin');
    await page.getByLabel('Email').fill(OWNER.email);
    await page.getByLabel('Password').fill(OWNER.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('signed-in-as').waitFor();
    await page.getByTestId('document-count').filter({ hasText: 'No documents' }).waitFor();
    const first = await storedToken(page);
    assert.ok(first);

    // Tokens live 8 s, so the page fetches a new one every few seconds by itself. On the review
    // page (a graphql-ws subscription and a `/collab` session besides the `/` socket) two
    // refreshes go by without the reconnect banner showing, even for a moment.
    await page.getByRole('link', { name: 'Matches', exact: true }).click();
    await page.getByRole('heading', { name: 'Matches', level: 1 }).waitFor();
    await page.getByTestId('matches-loading').waitFor({ state: 'detached' });
    // (A string: the test runner's transform would add helpers the page does not have.)
    await page.evaluate(`(() => {
      const banner = document.querySelector('[data-testid="connection-banner"]');
      window.bannerShown = [];
      const check = () => {
        const text = banner.textContent.trim();
        if (text) window.bannerShown.push(text);
      };
      check();
      new MutationObserver(check).observe(banner, { childList: true, subtree: true, characterData: true });
    })()`);
    await nextToken(page, await nextToken(page, first));
    // A moment for anything a refresh would set off (a reconnect) to show.
    await page.waitForTimeout(1_000);
    assert.deepEqual(await page.evaluate('window.bannerShown'), [], 'the banner never showed across token refreshes');
    assert.equal(await page.getByTestId('matches-error').count(), 0, 'the live feed kept going');

    await page.getByRole('link', { name: 'Search', exact: true }).click();
    await page.getByRole('link', { name: 'Documents', exact: true }).click();
    await page.getByTestId('document-count').filter({ hasText: 'No documents' }).waitFor();
    // (The uploads' announcer is an empty alert region until there is something to announce.)
    assert.equal(await page.getByRole('alert').filter({ hasText: /\S/ }).count(), 0, 'no error shown after the refresh');
    assert.equal(new URL(page.url()).pathname, '/');

    // The hub dies: the banner says so.
    const banner = page.getByTestId('connection-banner');
    assert.equal((await banner.textContent())?.trim(), '', 'no banner while connected');
    const dataDir = hub!.dataDir;
    await hub!.kill9();
    await banner.filter({ hasText: 'Reconnecting' }).waitFor({ timeout: 15_000 });

    // It comes back on the same address and data: the banner goes and the session still works,
    // though every token the page held expired meanwhile.
    hub = await startHub({ dataDir, seedOwner: true, env: ENV() });
    await backAndLive(page, 'back.txt');

    // A graceful stop: the hub closes every socket itself (socket.io does not reconnect after
    // that by itself). The banner shows, and goes once the hub is back; the list is live again.
    await hub.stop({ keepData: true });
    await banner.filter({ hasText: 'Reconnecting' }).waitFor({ timeout: 15_000 });
    hub = await startHub({ dataDir, seedOwner: true, env: ENV() });
    await backAndLive(page, 'again.txt');
  },
);
