/** `/healthz` (the process is alive) and `/readyz` (its dependencies answer). */
import { Router } from 'express';

export type ReadinessCheck = () => Promise<{ name: string; ok: boolean; detail?: string }>;

export function healthRouter(deps: { checks: ReadinessCheck[]; isShuttingDown: () => boolean }): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok', uptimeS: Math.round(process.uptime()) });
  });
  router.get('/readyz', async (_req, res) => {
    const results = await Promise.all(
      deps.checks.map((c) => c().catch((err: Error) => ({ name: 'unknown', ok: false, detail: err.message }))),
    );
    const ready = !deps.isShuttingDown() && results.every((r) => r.ok);
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not ready', checks: results });
  });
  return router;
}
