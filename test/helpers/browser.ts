/**
 * A real browser for end-to-end tests: Debian's `chromium` driven by playwright-core.
 * `launchBrowser` answers null (with the reason) when no Chromium is installed, so a suite
 * can skip with that reason printed rather than fail on a machine without one; `useBrowser`
 * does that for a whole test file.
 */
import { existsSync } from 'node:fs';
import { after, before, type TestContext } from 'node:test';
import { chromium, type Browser } from 'playwright-core';

/** Where Debian installs Chromium; `CHROMIUM_PATH` names another. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export async function launchBrowser(): Promise<{ browser: Browser } | { browser: null; reason: string }> {
  if (!existsSync(CHROMIUM_PATH)) return { browser: null, reason: `no Chromium at ${CHROMIUM_PATH} (apt-get install chromium)` };
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  return { browser };
}

/** The browser of one test file, from {@link useBrowser}. */
export interface SuiteBrowser {
  /** The launched browser; throws where there is none, so ask {@link SuiteBrowser.skip} first. */
  readonly browser: Browser;
  /** Skips test `t`, with the reason, when there is no browser; answers whether it did. */
  skip(t: TestContext): boolean;
}

/**
 * Chromium for the test file that calls it at its top level: launched before the file's tests,
 * then `setup` (what the tests need besides, such as a hub) runs, and closed after them. Without
 * Chromium, `setup` does not run and each test skips with the reason
 * (`if (chromium.skip(t)) return;`). `setup` is given here rather than in a `before` of the
 * file's own because the runner may run a file's `before` hooks side by side.
 */
export function useBrowser(setup?: () => Promise<void>): SuiteBrowser {
  let launched: Awaited<ReturnType<typeof launchBrowser>> | null = null;
  before(async () => {
    launched = await launchBrowser();
    if (launched.browser) await setup?.();
  });
  after(async () => {
    await launched?.browser?.close();
  });
  return {
    get browser() {
      if (!launched?.browser) throw new Error('no browser was launched: ask skip(t) first');
      return launched.browser;
    },
    skip(t) {
      if (launched?.browser) return false;
      t.skip(launched?.reason ?? 'the browser was not launched');
      return true;
    },
  };
}
