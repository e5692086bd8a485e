/**
 * The web UI keeps a person's session through time and outages, in a real browser against a
 * real hub: access tokens that last seconds are refreshed without the person noticing, and a
 * hub that goes away shows the reconnect banner, which leaves by itself once the hub is back
 * (same port, same data), with the session intact.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser } from './helpers/browser.ts';
import { OWNER, startHub, type HubProcess } from './helpers/hub.ts';

let browser: Browser | null = null;
let skipReason: string | null = null;
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

before(async () => {
  const launched = await launchBrowser();
  if (!launched.browser) {
    skipReason = launched.reason;
    return;
  }
  browser = launched.browser;
  port = await freePort();
  hub = await startHub({ seedOwner: true, env: ENV() });
});

after(async () => {
  await browser?.close();
  await hub?.stop();
});

test(
  'short access tokens are refreshed silently; a lost hub shows the banner, which goes once it is back',
  { timeout: 240_000 },
  async (t) => {
    if (skipReason) return t.skip(skipReason);
    const context = await browser!.newContext({ baseURL: hub!.url });
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

    // Tokens live 8 s: after 12 s the page holds a newer one it fetched by itself, and works.
    await page.waitForTimeout(12_000);
    const second = await storedToken(page);
    assert.ok(second && second !== first, 'the access token was refreshed');
    await page.getByRole('link', { name: 'Search', exact: true }).click();
    await page.getByRole('link', { name: 'Documents', exact: true }).click();
    await page.getByTestId('document-count').filter({ hasText: 'No documents' }).waitFor();
    assert.equal(await page.getByRole('alert').count(), 0, 'no error shown after the refresh');
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
    await page.waitForFunction(() => !document.querySelector('[data-testid="connection-banner"]')?.textContent?.trim(), null, {
      timeout: 30_000,
    });
    const upload = await hub.upload({
      name: 'back.txt',
      data: new TextEncoder().encode('The hub is back and so is this note.'),
      type: 'text/plain',
    });
    assert.equal(upload.status, 202);
    // The list is live again: the new document arrives without a reload.
    await page.getByTestId('document-row').filter({ hasText: 'back.txt' }).waitFor({ timeout: 30_000 });
    assert.equal(new URL(page.url()).pathname, '/', 'still signed in');
  },
);
