/**
 * The `quire` command line: `quire all` (default: the embedded hub with its workers),
 * `quire hub` and `quire processor` (the two halves, on NATS), `quire models` (obtain and
 * verify the models), `quire reindex` and `quire migrate-store` (work on an installation's
 * data), `quire eval …` (quality evaluations). An invalid configuration stops
 * here with a message naming each variable. Each role loads only its own modules: a processor
 * never loads the hub's store (SQLite), a hub never loads the OCR engine.
 */
import type { Logger } from 'pino';
import { ConfigError, loadConfig, type Config } from './config.ts';
import { createLogger } from './logger.ts';

const usage = `Usage: quire <command>

Commands:
  all       start the hub with in-process workers (default)
  hub       start the hub alone; processor nodes do the processing (BUS=nats)
  processor start a processing node on NATS: no store, no HTTP (BUS=nats)
  models    obtain and verify the embedding models under MODELS_DIR
  reindex   rebuild the search index from the store
  migrate-store
            copy the embedded store and files in DATA_DIR into MongoDB and GridFS (MONGODB_URL)
  eval      measure quality on public datasets (quire eval help)
  help      show this text

Configuration comes from environment variables; see hub/src/config.ts.`;

async function main(argv: string[]): Promise<number> {
  const [command = 'all', ...rest] = argv;
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const logger = createLogger(config.log);

  switch (command) {
    case 'all':
    case 'hub': {
      const { startQuire } = await import('./main.ts');
      const quire = await startQuire(config, logger, { role: command });
      const firstAccount = (await quire.services.auth.hasUsers())
        ? ''
        : `  No account yet: the first to sign up owns the install (mutation signUp at ${quire.url}/graphql),\n` +
          `  or set QUIRE_ADMIN_EMAIL and QUIRE_ADMIN_PASSWORD to create the owner at start-up.\n` +
          `  Uploads, documents and search need its access token.\n`;
      process.stderr.write(
        `\nQuire is running: open ${quire.url}\n  GraphQL: ${quire.url}/graphql\n  Upload:  curl -H "Authorization: Bearer $TOKEN" -F file=@invoice.pdf ${quire.url}/api/documents\n${firstAccount}\n`,
      );
      await untilSignal(logger, () => quire.close());
      return 0;
    }
    case 'processor': {
      const { startProcessorNode } = await import('./roles/processing.ts');
      const node = await startProcessorNode(config, logger);
      await untilSignal(logger, () => node.close());
      return 0;
    }
    case 'models': {
      const { runModelsCommand } = await import('@quire/processors');
      return runModelsCommand(rest, {
        modelsDir: config.models.dir,
        cacheDir: config.models.cacheDir,
        modelIds: [config.models.embeddingModel],
      });
    }
    case 'reindex': {
      const { runReindexCommand } = await import('./commands/reindex.ts');
      return runReindexCommand(rest, { config, logger });
    }
    case 'migrate-store': {
      const { runMigrateStoreCommand } = await import('./commands/migrate-store.ts');
      return runMigrateStoreCommand(rest, { config, logger });
    }
    case 'eval': {
      const { runEvalCommand } = await import('./eval/eval.command.ts');
      return runEvalCommand(rest, { config, logger });
    }
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(`${usage}\n`);
      return 0;
    default:
      process.stderr.write(`Unknown command ${JSON.stringify(command)}\n\n${usage}\n`);
      return 2;
  }
}

/** Waits for SIGINT or SIGTERM, then runs `close`. */
function untilSignal(logger: Logger, close: () => Promise<void>): Promise<void> {
  return new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      logger.info({ signal }, 'shutting down');
      close().then(resolve, resolve);
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`quire: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
