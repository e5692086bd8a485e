/**
 * A real browser for end-to-end tests: Debian's `chromium` driven by playwright-core.
 * `launchBrowser` answers null (with the reason) when no Chromium is installed, so a suite
 * can skip with that reason printed rather than fail on a machine without one.
 */
import { existsSync } from 'node:fs';
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
