/**
 * The web UI end to end, in a real browser (Debian's Chromium through playwright-core) against
 * a real hub with the real pipeline: two people of one team in two browser contexts, and a
 * third person of another team.
 *
 * A drops a scanned invoice and a text PDF and sees each progress bar reach done; B, whose
 * list is open, sees them arrive live; both open the invoice; A highlights a passage and B
 * sees it within a second; B replies and A sees the reply; A searches a paraphrase and lands
 * on the highlighted passage; a rescan of the invoice becomes a duplicate match that B
 * confirms and A sees confirmed, live. C, of another team, finds none of it.
 *
 * Screenshots of each main page (desktop and phone width) are written to
 * `artifacts/screenshots/` (or QUIRE_ARTIFACTS_DIR), and the compressed size of what the
 * first page loads is printed.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import type { BrowserContext, Page } from 'playwright-core';
import { useBrowser } from './helpers/browser.ts';
import { bearer, gql, OWNER, repoRoot, signIn, startHub, waitFor, type HubProcess } from './helpers/hub.ts';

const FIXTURES = join(repoRoot, 'test/fixtures/generated');
const ARTIFACTS = process.env.QUIRE_ARTIFACTS_DIR ?? join(repoRoot, 'artifacts/screenshots');
const EDITOR = { email: 'bea@example.org', password: 'another long passphrase', name: 'Bea Editor' };
const OUTSIDER = { email: 'carl@example.org', password: 'a third long passphrase', name: 'Carl Outsider' };
const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 390, height: 844 };
/** A paraphrase of what the invoice is about, sharing few of its words. */
const PARAPHRASE = 'what do we owe the stationery vendor';

let hub: HubProcess;
const contexts: BrowserContext[] = [];

async function newPage(viewport = DESKTOP): Promise<Page> {
  const context = await chromium.browser.newContext({ viewport, baseURL: hub.url });
  contexts.push(context);
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  return page;
}

async function shot(page: Page, name: string): Promise<void> {
  await mkdir(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  console.log(`screenshot: ${path}`);
}

async function signInThroughUi(page: Page, email: string, password: string): Promise<void> {
  await page.goto('/signin');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  // Hidden at phone width, but there once signed in.
  await page.getByTestId('signed-in-as').waitFor({ state: 'attached' });
}

const AXE = join(repoRoot, 'node_modules/axe-core/axe.min.js');

/**
 * Runs axe-core (WCAG 2 A and AA rules) on the page as it is, and fails on every serious or
 * critical violation: unlabelled controls, missing names, contrast, keyboard traps.
 */
async function assertAccessible(page: Page, name: string): Promise<void> {
  // Evaluated rather than added as a script tag, which the UI's CSP refuses.
  await page.evaluate(await readFile(AXE, 'utf8'));
  const violations = (await page.evaluate(`axe
    .run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa'] } })
    .then((r) => r.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => v.id + ' (' + v.impact + '): ' + v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ')))`)) as string[];
  assert.deepEqual(violations, [], `${name} has accessibility violations`);
}

/** Starts adding up the page's layout shifts (those not caused by the person's input). */
async function watchLayoutShift(page: Page): Promise<void> {
  await page.evaluate(`(() => {
    window.layoutShift = 0;
    window.layoutShiftSources = [];
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        if (e.hadRecentInput) continue;
        window.layoutShift += e.value;
        for (const s of e.sources || []) {
          const n = s.node;
          const name = n && n.nodeType === 1 ? n.tagName.toLowerCase() + (n.className ? '.' + String(n.className).split(' ')[0] : '') + (n.dataset && n.dataset.testid ? '[' + n.dataset.testid + ']' : '') : String(n && n.nodeName);
          window.layoutShiftSources.push(name + ' ' + e.value.toFixed(3));
        }
      }
    }).observe({ type: 'layout-shift' });
  })()`);
}

const layoutShiftSources = (page: Page) => page.evaluate('window.layoutShiftSources') as Promise<string[]>;
const layoutShift = (page: Page) => page.evaluate('window.layoutShift') as Promise<number>;

/** Drops files on the upload zone the way a browser does: a `drop` event carrying a DataTransfer. */
async function dropFiles(page: Page, names: string[]): Promise<void> {
  const files = await Promise.all(names.map(async (name) => ({ name, b64: (await readFile(join(FIXTURES, name))).toString('base64') })));
  const dataTransfer = await page.evaluateHandle((list) => {
    const dt = new DataTransfer();
    for (const f of list) {
      const bytes = Uint8Array.from(atob(f.b64), (c) => c.charCodeAt(0));
      dt.items.add(new File([bytes], f.name));
    }
    return dt;
  }, files);
  const zone = page.getByTestId('upload-zone');
  await zone.dispatchEvent('dragenter', { dataTransfer });
  await zone.dispatchEvent('drop', { dataTransfer });
}

/** The id of the team document named `filename`, read through the API as the owner. */
async function documentId(filename: string): Promise<string> {
  return waitFor(
    async () => {
      const res = await hub.gql('{ documents(first: 50) { nodes { id filename } } }');
      return res.data?.documents.nodes.find((d: { filename: string }) => d.filename === filename)?.id as string | undefined;
    },
    30_000,
    `document ${filename}`,
  );
}

const chromium = useBrowser(async () => {
  hub = await startHub({ seedOwner: true, env: { OPEN_SIGNUP: 'true' } });
});

after(async () => {
  for (const c of contexts) await c.close().catch(() => undefined);
  await hub?.stop();
});

describe('the web UI, two people of one team and one outsider', () => {
  let a: Page;
  let b: Page;
  let c: Page;
  let invoiceId: string;

  test('sign-in, invitation and open sign-up through the UI; the first page is measured', { timeout: 120_000 }, async (t) => {
    if (chromium.skip(t)) return;
    a = await newPage();
    // What the first page loads, compressed as a server would send it.
    let bytes = 0;
    let files = 0;
    const counted: Promise<void>[] = [];
    a.on('response', (res) => {
      if (!/\.(js|css|html)$|\/signin$|\/$/.test(new URL(res.url()).pathname)) return;
      counted.push(
        res
          .body()
          .then((body) => {
            bytes += gzipSync(body).length;
            files += 1;
          })
          .catch(() => undefined),
      );
    });
    await a.goto('/');
    await a.getByLabel('Email').waitFor();
    await a.waitForLoadState('networkidle');
    await Promise.all(counted);
    console.log(`first page (/ → /signin): ${files} files, ${(bytes / 1024).toFixed(1)} KiB gzip`);
    assert.match(new URL(a.url()).pathname, /\/signin$/, 'a visitor without a session is sent to sign in');
    await shot(a, 'signin');
    await assertAccessible(a, 'the sign-in page');

    await a.getByLabel('Email').fill(OWNER.email);
    await a.getByLabel('Password').fill('not the password at all');
    await a.getByRole('button', { name: 'Sign in' }).click();
    await a.getByRole('alert').filter({ hasText: 'do not match' }).waitFor();
    await signInThroughUi(a, OWNER.email, OWNER.password);

    // B joins through an invitation link the owner made.
    const invitation = await hub.gql('mutation { createInvitation(role: EDITOR) { token } }');
    const token = invitation.data.createInvitation.token as string;
    b = await newPage();
    await b.goto(`/invite?token=${encodeURIComponent(token)}`);
    await b.getByRole('link', { name: 'Create an account' }).click();
    await b.getByLabel('Your name').fill(EDITOR.name);
    await b.getByLabel('Email').fill(EDITOR.email);
    await b.getByLabel('Password').fill(EDITOR.password);
    await b.getByRole('button', { name: 'Create account' }).click();
    await b.getByTestId('signed-in-as').filter({ hasText: EDITOR.name }).waitFor();

    // C signs up on their own (open sign-up): a team of their own.
    c = await newPage();
    await c.goto('/signup');
    await c.getByLabel('Your name').fill(OUTSIDER.name);
    await c.getByLabel('Email').fill(OUTSIDER.email);
    await c.getByLabel('Password').fill(OUTSIDER.password);
    await c.getByRole('button', { name: 'Create account' }).click();
    await c.getByTestId('signed-in-as').waitFor();
    const cTeam = await c.getByTestId('team-switcher').inputValue();
    const aTeam = await a.getByTestId('team-switcher').inputValue();
    assert.notEqual(cTeam, aTeam, 'the outsider acts in a team of their own');
  });

  test('A drops an invoice scan and a text PDF; both reach done; B sees them arrive live', { timeout: 240_000 }, async (t) => {
    if (chromium.skip(t)) return;
    await b.goto('/');
    await b.getByTestId('empty-state').waitFor();
    await watchLayoutShift(b);
    await a.goto('/');
    await watchLayoutShift(a);
    // Every state and bar value each upload row shows, as the page changes them.
    // (A string: the test runner's transform would add helpers the page does not have.)
    await a.evaluate(`(() => {
      const seen = {};
      window.seen = seen;
      new MutationObserver(() => {
        for (const row of document.querySelectorAll('[data-testid="upload-item"]')) {
          const bar = row.querySelector('progress');
          const entry = row.dataset.state + ':' + Math.round(bar ? bar.value : 0);
          const list = (seen[row.dataset.filename] ??= []);
          if (list.at(-1) !== entry) list.push(entry);
        }
      }).observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
    })()`);
    await dropFiles(a, ['scanned-invoice.png', 'text-report.pdf']);

    for (const name of ['scanned-invoice.png', 'text-report.pdf']) {
      const item = a.locator(`[data-testid="upload-item"][data-filename="${name}"]`);
      await a.locator(`[data-testid="upload-item"][data-filename="${name}"][data-state="done"]`).waitFor({ timeout: 180_000 });
      assert.equal(await item.getByTestId('upload-progress').evaluate((el) => (el as HTMLProgressElement).value), 100);
      assert.match((await item.getByTestId('upload-type').textContent()) ?? '', /\w/, `${name} shows the type Quire gave it`);
    }
    const seen = await a.evaluate(() => (window as unknown as { seen: Record<string, string[]> }).seen);
    console.log('upload rows went through', JSON.stringify(seen));
    // The scan's bar moved live through processing: a value strictly between 0 and 100 was shown.
    assert.ok(
      seen['scanned-invoice.png']!.some((e) => /^processing:([1-9]\d?)$/.test(e)),
      `the scan's bar showed no progress while processing: ${seen['scanned-invoice.png']}`,
    );
    for (const name of ['scanned-invoice.png', 'text-report.pdf']) assert.equal(seen[name]!.at(-1), 'done:100');
    assert.match(
      (await a.locator('[data-testid="upload-item"][data-filename="scanned-invoice.png"]').getByTestId('upload-type').textContent()) ?? '',
      /invoice/,
    );

    // B never reloaded: the rows arrived through the live list.
    for (const name of ['scanned-invoice.png', 'text-report.pdf']) {
      await b
        .getByTestId('document-row')
        .filter({ hasText: name })
        .and(b.locator('[data-status="PROCESSED"]'))
        .waitFor({ timeout: 30_000 });
    }
    const shifts = { uploader: await layoutShift(a), list: await layoutShift(b) };
    console.log('what moved:', JSON.stringify({ uploader: await layoutShiftSources(a), list: await layoutShiftSources(b) }));
    console.log(`layout shift while uploads and rows streamed in: uploader ${shifts.uploader.toFixed(3)}, list ${shifts.list.toFixed(3)}`);
    // 0.1 is where a page stops counting as stable (Core Web Vitals' "good" cumulative layout shift).
    assert.ok(shifts.uploader < 0.1 && shifts.list < 0.1, `the pages jumped while data streamed in: ${JSON.stringify(shifts)}`);
    await shot(a, 'documents');
    await assertAccessible(a, 'the documents page');
    invoiceId = await documentId('scanned-invoice.png');

    // An unsupported file is refused in plain words, and the others are not affected.
    await dropFiles(a, ['not-really.pdf']);
    const refused = a.locator('[data-testid="upload-item"][data-filename="not-really.pdf"]');
    await refused.and(a.locator('[data-state="refused"]')).waitFor();
    assert.match((await refused.getByTestId('upload-message').textContent()) ?? '', /not supported|does not match/);
  });

  test('both open the invoice; A highlights a passage and B sees it within a second; B replies', { timeout: 120_000 }, async (t) => {
    if (chromium.skip(t)) return;
    await a.goto(`/documents/${invoiceId}`);
    await b.goto(`/documents/${invoiceId}`);
    // The passage A highlights is the one the paraphrase will find later (read from the API).
    const hits = await hub.gql('query($q: String!) { search(query: $q, first: 5) { document { id } chunkOrdinal } }', { q: PARAPHRASE });
    const target = hits.data.search.find((h: { document: { id: string } }) => h.document.id === invoiceId)?.chunkOrdinal as number;
    assert.ok(target !== undefined, 'the paraphrase finds the invoice');
    const passage = a.locator(`[data-testid="chunk-text"][data-chunk="${target}"]`);
    await passage.waitFor();
    await b.locator(`[data-testid="chunk-text"][data-chunk="${target}"]`).waitFor();
    // Each sees the other in the session.
    await a
      .locator(`[data-testid="presence-avatar"][aria-label*="${EDITOR.name}"], [data-testid="presence-avatar"][title*="${EDITOR.name}"]`)
      .first()
      .waitFor();

    // A selects the first words of the passage.
    const text = (await passage.textContent()) ?? '';
    const words = text.trim().split(/\s+/).slice(0, 4).join(' ');
    assert.ok(words.length > 3, 'the passage has text to select');
    await passage.evaluate((el, phrase) => {
      // The text node holding the phrase (the paragraph may start with empty markers).
      const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
      let node = walker.nextNode();
      while (node && !(node.textContent ?? '').includes(phrase)) node = walker.nextNode();
      if (!node) throw new Error(`no text node holds "${phrase}"`);
      const start = (node.textContent ?? '').indexOf(phrase);
      const range = document.createRange();
      range.setStart(node, start);
      range.setEnd(node, start + phrase.length);
      const selection = window.getSelection()!;
      selection.removeAllRanges();
      selection.addRange(range);
      el.dispatchEvent(new MouseEvent('mouseup', { bubbles: true }));
    }, words);
    await a.getByTestId('create-highlight').click();
    await a.getByTestId('annotation-comment').fill('Check this total against the order');
    await a.getByTestId('save-annotation').click();
    const saved = Date.now();
    await a.locator('mark[data-testid="highlight"]').first().waitFor();
    await b.locator('mark[data-testid="highlight"]').first().waitFor({ timeout: 5_000 });
    const seenAfter = Date.now() - saved;
    console.log(`B saw A's highlight ${seenAfter} ms after A saved it`);
    assert.ok(seenAfter <= 1_000, `B saw the highlight after ${seenAfter} ms, more than a second`);
    assert.equal(((await b.locator('mark[data-testid="highlight"]').first().textContent()) ?? '').trim(), words);
    await b.getByTestId('annotation').filter({ hasText: 'Check this total against the order' }).waitFor();

    // B replies; A sees the reply live.
    const note = b.getByTestId('annotation').filter({ hasText: 'Check this total against the order' });
    await note.getByTestId('reply-input').fill('The order says the same amount');
    await note.getByRole('button', { name: 'Reply' }).click();
    await a.getByTestId('reply').filter({ hasText: 'The order says the same amount' }).waitFor({ timeout: 5_000 });
    await shot(a, 'viewer');
    await assertAccessible(a, 'the viewer');
    await b.setViewportSize(PHONE);
    await shot(b, 'viewer-phone');
    await b.setViewportSize(DESKTOP);
  });

  test('A searches a paraphrase and lands on the highlighted passage', { timeout: 60_000 }, async (t) => {
    if (chromium.skip(t)) return;
    await a.goto('/search');
    await a.getByTestId('search-input').fill(PARAPHRASE);
    await a.getByTestId('search-input').press('Enter');
    const result = a.getByTestId('search-result').filter({ hasText: 'scanned-invoice.png' }).first();
    await result.waitFor();
    await shot(a, 'search');
    await assertAccessible(a, 'the search page');
    // By keyboard alone: Tab from the search box reaches the invoice's first result, Enter opens it.
    const link = result.getByTestId('search-result-link').first();
    await a.getByTestId('search-input').focus();
    let reached = false;
    for (let i = 0; i < 40 && !reached; i += 1) {
      await a.keyboard.press('Tab');
      reached = await link.evaluate((el) => el === document.activeElement);
    }
    assert.ok(reached, "Tab never reached the invoice's result");
    await a.keyboard.press('Enter');
    await a.waitForURL(new RegExp(`/documents/${invoiceId}\\?`));
    await a.getByTestId('passage-focus').first().waitFor();
    const focused = new URL(a.url()).searchParams.get('chunk');
    const highlighted = a.locator(`[data-testid="chunk-text"][data-chunk="${focused}"] mark[data-testid="highlight"]`);
    await highlighted.waitFor({ timeout: 5_000 });
    assert.equal(await highlighted.count(), 1, 'the passage the search landed on carries the highlight');
  });

  test('a rescan becomes a duplicate match; B confirms it and A sees it confirmed live', { timeout: 240_000 }, async (t) => {
    if (chromium.skip(t)) return;
    await a.goto('/matches');
    await b.goto('/matches');
    await a.getByTestId('empty-state').waitFor();
    await shot(a, 'matches-empty');
    await a.goto('/');
    await dropFiles(a, ['rescanned-invoice.jpg']);
    await a.locator('[data-testid="upload-item"][data-filename="rescanned-invoice.jpg"][data-state="done"]').waitFor({ timeout: 180_000 });
    await a.goto('/matches');
    // B's page was open all along: the proposal arrived live.
    const bMatch = b.getByTestId('match').filter({ hasText: 'rescanned-invoice.jpg' });
    await bMatch.waitFor({ timeout: 30_000 });
    const matchId = await bMatch.getAttribute('data-match-id');
    assert.ok(matchId);
    const aMatch = a.locator(`[data-testid="match"][data-match-id="${matchId}"]`);
    await aMatch.waitFor();
    await shot(b, 'matches');
    await assertAccessible(b, 'the match review');
    await bMatch.getByRole('button', { name: 'Confirm' }).click();
    await aMatch.getByTestId('match-status').filter({ hasText: 'Confirmed' }).waitFor({ timeout: 5_000 });
    const status = await hub.gql('query($id: ID!) { match(id: $id) { status kind resolvedBy } }', { id: matchId });
    assert.equal(status.data.match.status, 'CONFIRMED');
    assert.equal(status.data.match.kind, 'DUPLICATE');
  });

  test('the outsider sees none of it', { timeout: 60_000 }, async (t) => {
    if (chromium.skip(t)) return;
    await c.goto('/');
    await c.getByTestId('empty-state').waitFor();
    assert.equal(await c.getByTestId('document-row').count(), 0);
    await c.goto(`/search?q=${encodeURIComponent(PARAPHRASE)}`);
    await c.getByTestId('empty-state').waitFor();
    assert.equal(await c.getByTestId('search-result').count(), 0);
    await c.goto(`/documents/${invoiceId}`);
    await c
      .getByText(/not found|not shared/i)
      .first()
      .waitFor();
    assert.equal(await c.getByTestId('chunk-text').count(), 0);
    await c.goto('/matches');
    await c.getByTestId('empty-state').waitFor();
    assert.equal(await c.getByTestId('match').count(), 0);
  });

  test("A, invited into the outsider's team while signed in, switches between the two teams", { timeout: 60_000 }, async (t) => {
    if (chromium.skip(t)) return;
    const cToken = await signIn(hub.url, OUTSIDER.email, OUTSIDER.password);
    const invitation = await gql(hub.url, 'mutation { createInvitation(role: VIEWER) { token } }', {}, bearer(cToken));
    await a.goto(`/invite?token=${encodeURIComponent(invitation.data.createInvitation.token)}`);
    await a.getByRole('button', { name: 'Join the team' }).click();
    await a.waitForURL((url) => url.pathname === '/');
    const switcher = a.getByTestId('team-switcher');
    assert.equal(await switcher.locator('option').count(), 2, 'A now has two teams');
    // A acts in the team just joined: a viewer there, with none of the default team's documents.
    await a.getByTestId('empty-state').waitFor();
    assert.equal(await a.getByTestId('upload-zone').count(), 0, 'a viewer is offered no upload');
    const defaultTeam = await switcher.locator('option', { hasText: 'owner' }).getAttribute('value');
    await switcher.selectOption(defaultTeam!);
    await a.getByTestId('document-row').filter({ hasText: 'scanned-invoice.png' }).waitFor();
    await a.getByTestId('upload-zone').waitFor();
  });

  test('dashboard and settings pages render for the owner; phone width keeps pages readable', { timeout: 60_000 }, async (t) => {
    if (chromium.skip(t)) return;
    await a.goto('/dashboard');
    await a
      .getByText(/throughput/i)
      .first()
      .waitFor();
    await shot(a, 'dashboard');
    await assertAccessible(a, 'the dashboard');
    await a.goto('/settings');
    await a
      .getByText(/members/i)
      .first()
      .waitFor();
    await shot(a, 'settings');
    await assertAccessible(a, 'the settings');
    const phone = await newPage(PHONE);
    await signInThroughUi(phone, OWNER.email, OWNER.password);
    for (const path of ['/', '/search', '/matches', '/dashboard']) {
      await phone.goto(path);
      await phone.waitForLoadState('networkidle');
      const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 1, `${path} is wider than a phone by ${overflow} px`);
      await shot(phone, `phone${path === '/' ? '-documents' : path.replace('/', '-')}`);
    }
  });
});
