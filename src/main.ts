import { ConfigError, loadConfig } from './config/env.js';
import { createLogger } from './shared/logger.js';
import { startServer } from './server.js';
import { startBanner } from './banner.js';

/** Entry point of `npm start`: configuration errors print one line and exit 1; SIGTERM shuts down cleanly. */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    console.error(`configuration error: ${(error as Error).message}`);
    process.exit(1);
  }
  const logger = createLogger(config.logLevel);
  let running;
  try {
    running = await startServer(config, logger);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`cannot start: ${error.message}`);
    } else {
      logger.fatal({ err: error }, 'start failed');
      console.error(`cannot start: ${(error as Error).message}`);
    }
    process.exit(1);
  }
  const server = running;
  if (config.mode !== 'production') {
    process.stderr.write(startBanner({ config, demo: server.demo, generatedSecrets: server.generatedSecrets }));
  }
  let signalled = false;
  const shutdown = (signal: string) => {
    if (signalled) return;
    signalled = true;
    logger.info({ signal }, 'shutting down: finishing in-flight requests');
    server.stop().then(
      () => {
        logger.info('stopped');
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

await main();
