/**
 * `quire reindex`: rebuilds the search index from the store (see {@link ReindexService}), with
 * progress on stderr. Runs beside the hubs or without them; each document's entries are
 * replaced whole, so searches answer throughout.
 */
import type { Logger } from 'pino';
import { ThreadedEmbedder } from '@quire/processors';
import { openSearchIndex, openStore } from '../adapters.ts';
import type { Config } from '../config.ts';
import { Shutdown } from '../lifecycle/shutdown.ts';
import { obtainModels } from '../roles/shared.ts';
import { IndexerService } from '../services/indexer.service.ts';
import { ReindexService } from '../services/reindex.service.ts';

export const REINDEX_USAGE = `Usage: quire reindex

Embeds every processed document's chunks again from the store and writes them into the
search index (the store named by STORE; the index named by SEARCH).`;

export async function runReindexCommand(argv: string[], ctx: { config: Config; logger: Logger }): Promise<number> {
  if (argv.length > 0) {
    const help = argv[0] === 'help' || argv[0] === '--help';
    process.stderr.write(`${help ? '' : `unknown option ${JSON.stringify(argv[0])}\n\n`}${REINDEX_USAGE}\n`);
    return help ? 0 : 2;
  }
  const { config, logger } = ctx;
  const shutdown = new Shutdown(logger.child({ component: 'lifecycle' }));
  try {
    await obtainModels(config, logger);
    const embedder = await ThreadedEmbedder.start({ modelsDir: config.models.dir, modelId: config.models.embeddingModel });
    shutdown.add('embedder', () => embedder.close(), 90);
    const model = { modelId: embedder.modelId, dimension: embedder.dimension };
    const store = await openStore(config, shutdown);
    const { index } = await openSearchIndex(config, model, shutdown);
    const reindex = new ReindexService({ store, indexer: new IndexerService({ store, index, model }), embedder });
    const started = Date.now();
    let last = 0;
    const done = await reindex.run((p) => {
      if (Date.now() - last < 1000) return;
      last = Date.now();
      process.stderr.write(`reindexing: ${p.documents} documents, ${p.chunks} chunks (team ${p.team})\n`);
    });
    process.stderr.write(
      `reindexed ${done.documents} documents (${done.chunks} chunks) of ${done.teams} teams in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
    );
    return 0;
  } finally {
    await shutdown.run();
  }
}
