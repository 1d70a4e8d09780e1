import crypto from 'node:crypto';
import { ConfigError, loadConfig } from '../src/config/env.js';
import { createLogger } from '../src/shared/logger.js';
import { startServer, type RunningServer } from '../src/server.js';
import { startBanner } from '../src/banner.js';
import { DEMO_SYSTEMS } from './systems.js';
import { startDemoRp, type RunningDemoRp } from './rp-app.js';

/**
 * `npm run demo`: the provider exactly as `npm start` runs it (same environment, data and keys) plus the three
 * demo business systems of clients.json (继续教育, 公务员考录, 网办平台) on the origins of their redirect URIs.
 * Client secrets: taken from the environment when set, otherwise generated for this run and given to both sides.
 */

const SECRET_VARIABLES: Record<string, string> = { 'ce-demo': 'CE_DEMO_CLIENT_SECRET', 'cse-demo': 'CSE_DEMO_CLIENT_SECRET', 'hall-demo': 'HALL_DEMO_CLIENT_SECRET' };

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

async function main(): Promise<void> {
  for (const name of Object.values(SECRET_VARIABLES)) {
    if (!process.env[name]) process.env[name] = crypto.randomBytes(32).toString('base64url');
  }
  const config = loadConfig();
  if (config.mode === 'production') throw new ConfigError('npm run demo is for development; NODE_ENV=production is not allowed');
  const logger = createLogger(config.logLevel);
  const provider: RunningServer = await startServer(config, logger);
  const rps: RunningDemoRp[] = [];
  const titles: string[] = [];
  const stop = async (code: number) => {
    await Promise.allSettled(rps.map((rp) => rp.close()));
    await provider.stop();
    process.exit(code);
  };
  try {
    for (const system of DEMO_SYSTEMS) {
      const registered = provider.app.services.catalog.clients.find((entry) => entry.clientId === system.clientId);
      if (!registered) {
        say(`skipped ${system.title}: client ${system.clientId} is not in ${config.clientsFile}`);
        continue;
      }
      const { metadata } = registered;
      const redirectUri = (metadata.redirect_uris as string[] | undefined)?.[0];
      const secret = metadata.client_secret;
      if (!redirectUri || typeof secret !== 'string') throw new ConfigError(`client ${system.clientId} needs a redirect URI and a client secret`);
      const business = provider.app.services.catalog.businesses.find((entry) => entry.code === registered.business);
      const origin = new URL(redirectUri);
      rps.push(
        await startDemoRp({
          system,
          issuer: config.issuer,
          clientId: system.clientId,
          clientSecret: secret,
          redirectUri,
          port: Number(origin.port || (origin.protocol === 'https:' ? 443 : 80)),
          host: config.host,
          ...(business?.resource ? { resource: business.resource } : {}),
          postLogoutRedirectUri: (metadata.post_logout_redirect_uris as string[] | undefined)?.[0] ?? `${origin.origin}/`,
          log: (message, detail) => logger.info({ rp: system.clientId, ...detail }, message),
        }),
      );
      titles.push(system.title);
    }
  } catch (error) {
    console.error(`cannot start the demo business systems: ${(error as Error).message}`);
    await stop(1);
  }
  process.stderr.write(
    startBanner({
      config,
      demo: provider.demo,
      generatedSecrets: provider.generatedSecrets,
      businessSystems: rps.map((rp, index) => ({ title: titles[index] ?? '', url: `${rp.url}/` })),
    }),
  );
  process.stderr.write('Ctrl-C stops everything.\n');
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));
}

main().catch((error: unknown) => {
  console.error(`cannot start: ${(error as Error).message}`);
  process.exit(1);
});
