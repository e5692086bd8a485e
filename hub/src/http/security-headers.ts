/**
 * The security headers of every HTTP answer (helmet), with a strict Content-Security-Policy
 * for the UI: scripts only from the hub itself plus SvelteKit's inline bootstrap script, whose
 * hash the build writes into the page (`kit.csp` in web/svelte.config.js). Routes that serve
 * something else (stored files) set their own policy over this one.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RequestHandler } from 'express';
import helmet from 'helmet';
import type { Logger } from 'pino';

/**
 * The `script-src` hashes the built UI declares in its `<meta http-equiv="content-security-policy">`
 * tag: the inline scripts SvelteKit emits. Empty when the UI is not built, or was built without
 * `kit.csp` (its pages then fail to start under the policy, which the log says).
 */
export function uiScriptHashes(webDir: string, logger: Logger): string[] {
  let html: string;
  try {
    html = readFileSync(join(webDir, 'index.html'), 'utf8');
  } catch {
    return [];
  }
  const meta = /<meta\s+http-equiv="content-security-policy"\s+content="([^"]*)"/i.exec(html)?.[1] ?? '';
  const scriptSrc = meta.split(';').find((d) => d.trim().startsWith('script-src')) ?? '';
  const hashes = scriptSrc.match(/'sha(256|384|512)-[A-Za-z0-9+/=]+'/g) ?? [];
  if (!hashes.length && /<script>/.test(html)) {
    logger.warn({ webDir }, 'the UI build declares no script hashes (kit.csp); its inline scripts will be refused');
  }
  return hashes;
}

/**
 * Helmet with the UI's policy. Style sheets come from the hub only, but `style` attributes may
 * be inline (Svelte's templates set them; they run no script); images may come from `blob:` and
 * `data:` (the viewer shows fetched originals); pdf.js runs in a worker from the hub. The hub
 * speaks plain HTTP: HSTS is left to the proxy that terminates TLS, and requests are not
 * upgraded to HTTPS.
 */
export function securityHeaders(scriptHashes: string[]): RequestHandler {
  return helmet({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        'default-src': ["'self'"],
        'script-src': ["'self'", ...scriptHashes],
        'style-src': ["'self'"],
        'style-src-attr': ["'unsafe-inline'"],
        'img-src': ["'self'", 'blob:', 'data:'],
        'font-src': ["'self'", 'data:'],
        'connect-src': ["'self'"],
        'worker-src': ["'self'"],
        'object-src': ["'none'"],
        'frame-src': ["'none'"],
        'base-uri': ["'self'"],
        'form-action': ["'self'"],
        'frame-ancestors': ["'none'"],
      },
    },
    strictTransportSecurity: false,
    xFrameOptions: { action: 'deny' },
  });
}
