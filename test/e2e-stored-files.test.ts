/**
 * Stored files and the UI's Content-Security-Policy in a real browser (Debian's Chromium
 * through playwright-core) against a real hub.
 *
 * A text file named `x.html` holding a script is opened the way a link would open it, inline
 * and as a download: its script never runs in Quire's origin, where the UI keeps its session.
 * A PDF still shows in Chromium's viewer under the files' sandbox. The UI's pages carry the
 * CSP header, start under it (SvelteKit's inline bootstrap script is allowed by its hash) and
 * raise no violation, the document viewer's pdf.js and images included.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import sharp from 'sharp';
import { useBrowser } from './helpers/browser.ts';
import { OWNER, repoRoot, startHub, uploadProcessed, waitFor, type HubProcess } from './helpers/hub.ts';

/** A page whose script, were it ever run in Quire's origin, would steal the session. */
const HOSTILE_HTML = `<!doctype html><html><body><p>hello</p><script>
localStorage.setItem('pwned', localStorage.getItem('quire.session') ?? 'nothing to steal');
</script></body></html>`;

/** Chromium's built-in PDF viewer, which hosts every PDF it displays. */
const PDF_VIEWER = 'chrome-extension://mhjfbmdgcfjbbpaeojofohoefgiehjai/';

let hub: HubProcess;
const contexts: BrowserContext[] = [];
const ids = { html: '', pdf: '', png: '' };

const chromium = useBrowser(async () => {
  hub = await startHub({ seedOwner: true });
  const png = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#f4f0e8' } })
    .png()
    .toBuffer();
  [ids.html, ids.pdf, ids.png] = await Promise.all([
    uploadProcessed(hub, { name: 'x.html', data: new TextEncoder().encode(HOSTILE_HTML) }, 60_000),
    uploadProcessed(hub, { name: 'report.pdf', data: await readFile(join(repoRoot, 'test/fixtures/generated/text-report.pdf')) }, 60_000),
    uploadProcessed(hub, { name: 'swatch.png', data: png }, 60_000),
  ]);
});

after(async () => {
  for (const c of contexts) await c.close().catch(() => undefined);
  await hub?.stop();
});

/**
 * A page whose every request carries the owner's token, as the file route needs, and which
 * records every CSP violation and console error of the documents it shows.
 */
async function newPage(options: { withToken: boolean }): Promise<{ page: Page; violations: string[]; errors: string[] }> {
  const context = await chromium.browser.newContext({
    baseURL: hub.url,
    acceptDownloads: true,
    ...(options.withToken ? { extraHTTPHeaders: hub.ownerAuth } : {}),
  });
  contexts.push(context);
  const violations: string[] = [];
  const errors: string[] = [];
  await context.exposeFunction('reportViolation', (v: string) => violations.push(v));
  // Runs before any script of the page; the CSP does not apply to what the browser injects.
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      (window as unknown as { reportViolation(v: string): void }).reportViolation(
        `${e.effectiveDirective} blocked ${e.blockedURI || 'inline'} on ${location.pathname} (${e.sample})`,
      );
    });
  });
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`${m.text()} on ${page.url()}`);
  });
  return { page, violations, errors };
}

describe('stored files in the browser', () => {
  test('a stored HTML file runs no script in Quire’s origin, opened inline or as a download', async (t) => {
    if (chromium.skip(t)) return;
    const { page } = await newPage({ withToken: true });
    // Something to steal: a session in the UI's origin.
    await page.goto('/signin');
    await page.evaluate(() => localStorage.setItem('quire.session', JSON.stringify({ accessToken: 'secret' })));

    const res = await page.goto(`/api/documents/${ids.html}/file?inline`);
    assert.equal(res?.status(), 200);
    assert.equal(res?.headers()['content-type'], 'text/plain; charset=utf-8');
    // Shown as text: the markup is on the page as characters, not as elements, so no script.
    assert.equal(await page.evaluate(() => document.querySelectorAll('p, script').length), 0);
    assert.match(await page.evaluate(() => document.body.innerText), /<script>/);
    // The sandbox gives the document an origin of its own: were a stored file ever rendered
    // with its scripts, Quire's storage, and the session in it, would be out of its reach.
    assert.equal(await page.evaluate(() => window.origin), 'null');
    const storage = await page.evaluate(() => {
      try {
        return localStorage.getItem('quire.session');
      } catch (err) {
        return (err as Error).name;
      }
    });
    assert.equal(storage, 'SecurityError');

    // Without ?inline it is saved, never shown.
    await page.goto('/signin');
    const download = page.waitForEvent('download');
    await page.goto(`/api/documents/${ids.html}/file`).catch((err: Error) => {
      // Chromium ends a navigation that becomes a download with this error.
      if (!/Download is starting/.test(err.message)) throw err;
    });
    assert.equal((await download).suggestedFilename(), 'x.html');
    assert.equal(new URL(page.url()).pathname, '/signin', 'saved, not shown: the page stayed where it was');
  });

  test('a PDF still shows inline in Chromium’s viewer under the sandbox', async (t) => {
    if (chromium.skip(t)) return;
    const { page } = await newPage({ withToken: true });
    const res = await page.goto(`/api/documents/${ids.pdf}/file?inline`);
    assert.equal(res?.headers()['content-type'], 'application/pdf');
    // The header as sent (`headers()` shows what the viewer's wrapper page was given).
    assert.match((await res?.headerValue('content-security-policy')) ?? '', /(^|; )sandbox($|;)/);
    await waitFor(async () => page.frames().some((f) => f.url().startsWith(PDF_VIEWER)), 15_000, 'the PDF viewer');
    // The viewer read the document: its toolbar shows the PDF's own title.
    const viewer = page.frames().find((f) => f.url().startsWith(PDF_VIEWER))!;
    await viewer.waitForFunction(() => {
      const roots: (Document | ShadowRoot)[] = [document];
      let shown = '';
      while (roots.length) {
        for (const e of roots.pop()!.querySelectorAll('*')) {
          if (e.shadowRoot) roots.push(e.shadowRoot);
          if (!e.children.length) shown += ` ${e.textContent}`;
        }
      }
      return shown.includes('Urban Apiary Pilot');
    });
  });
});

describe('the UI under its Content-Security-Policy', () => {
  test('every main page and the viewer start and raise no CSP violation', { timeout: 120_000 }, async (t) => {
    if (chromium.skip(t)) return;
    const { page, violations, errors } = await newPage({ withToken: false });
    const res = await page.goto('/signin');
    const csp = res?.headers()['content-security-policy'] ?? '';
    const scriptSrc = csp.split(';').find((d) => d.trim().startsWith('script-src')) ?? '';
    assert.match(scriptSrc, /'self'/);
    assert.match(scriptSrc, /'sha256-[A-Za-z0-9+/=]+'/, 'the bootstrap script is allowed by its hash');
    assert.doesNotMatch(scriptSrc, /unsafe-inline|unsafe-eval/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.equal(res?.headers()['x-content-type-options'], 'nosniff');

    // The UI starts: it can only sign in if its scripts run.
    await page.getByLabel('Email').fill(OWNER.email);
    await page.getByLabel('Password').fill(OWNER.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('signed-in-as').waitFor({ state: 'attached' });
    await page.getByTestId('document-row').first().waitFor();

    for (const path of ['/search', '/matches', '/dashboard', '/settings']) {
      const answer = await page.goto(path);
      assert.match(answer?.headers()['content-security-policy'] ?? '', /script-src 'self' 'sha256-/, path);
      await page.getByTestId('signed-in-as').waitFor({ state: 'attached' });
      await page.waitForLoadState('networkidle');
    }
    // pdf.js draws the PDF's pages from a worker; the image is shown from a blob: URL.
    await page.goto(`/documents/${ids.pdf}`);
    await page.locator('[data-testid="page-view"] canvas').first().waitFor();
    await page.waitForFunction(() => {
      const canvas = document.querySelector<HTMLCanvasElement>('[data-testid="page-view"] canvas');
      return !!canvas && canvas.width > 0;
    });
    await page.goto(`/documents/${ids.png}`);
    await page.waitForFunction(() => {
      const img = document.querySelector<HTMLImageElement>('[data-testid="page-view"] img');
      return !!img && img.complete && img.naturalWidth > 0;
    });
    await page.waitForLoadState('networkidle');

    assert.deepEqual(violations, [], 'no CSP violation');
    assert.deepEqual(
      errors.filter((e) => /Content Security Policy|Refused to/i.test(e)),
      [],
      'no CSP error in the console',
    );
  });
});
