/**
 * The `quire` command line: `quire all` (default: the embedded hub with its workers),
 * `quire models` (obtain and verify the models), `quire eval …` (quality evaluations). An invalid configuration stops here with
 * a message naming each variable.
 */
import { runModelsCommand } from '@quire/processors';
import { ConfigError, loadConfig, type Config } from './config.ts';
import { runEvalCommand } from './eval/eval.command.ts';
import { createLogger } from './logger.ts';
import { startQuire } from './main.ts';

const usage = `Usage: quire <command>

Commands:
  all       start the hub with in-process workers (default)
  models    obtain and verify the embedding models under MODELS_DIR
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
    case 'all': {
      const quire = await startQuire(config, logger);
      const firstAccount = (await quire.services.auth.hasUsers())
        ? ''
        : `  No account yet: the first to sign up owns the install (mutation signUp at ${quire.url}/graphql),\n` +
          `  or set QUIRE_ADMIN_EMAIL and QUIRE_ADMIN_PASSWORD to create the owner at start-up.\n` +
          `  Uploads, documents and search need its access token.\n`;
      process.stderr.write(
        `\nQuire is running: open ${quire.url}\n  GraphQL: ${quire.url}/graphql\n  Upload:  curl -H "Authorization: Bearer $TOKEN" -F file=@invoice.pdf ${quire.url}/api/documents\n${firstAccount}\n`,
      );
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          logger.info({ signal }, 'shutting down');
          quire.close().then(resolve, resolve);
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
      });
      return 0;
    }
    case 'models':
      return runModelsCommand(rest, {
        modelsDir: config.models.dir,
        cacheDir: config.models.cacheDir,
        modelIds: [config.models.embeddingModel],
      });
    case 'eval':
      return runEvalCommand(rest, { config, logger });
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

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`quire: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
