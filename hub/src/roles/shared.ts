/**
 * What every role of the composition root builds the same way: the models it needs, and its
 * connection to NATS.
 */
import type { Logger } from 'pino';
import { NatsBus } from '@quire/bus';
import { ensureModels } from '@quire/processors';
import type { Config } from '../config.ts';

/** Obtains (when missing and allowed) and checks the embedding model under MODELS_DIR. */
export async function obtainModels(config: Config, logger: Logger): Promise<void> {
  await ensureModels({
    modelsDir: config.models.dir,
    cacheDir: config.models.cacheDir,
    modelIds: [config.models.embeddingModel],
    fetchMissing: config.models.autoFetch,
    onProgress: (p) => logger.info(p, 'obtaining models'),
  });
}

/** The NATS servers of the configuration and the credentials to present to them. */
export function natsServers(config: Config): { servers: string[]; auth: Config['bus']['natsAuth'] } {
  return { servers: config.bus.natsUrl.split(','), auth: config.bus.natsAuth };
}

/** The NATS bus of the configuration, not yet started; `name` shows in the server's monitoring. */
export function natsBus(config: Config, name: string): NatsBus {
  return new NatsBus({ ...natsServers(config), prefix: config.bus.natsPrefix, name });
}
