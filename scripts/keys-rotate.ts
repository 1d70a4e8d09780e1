import { ConfigError, loadConfig } from '../src/config/env.js';
import { rotateKeys } from '../src/oidc/keys.js';

/**
 * `npm run keys:rotate`: adds and promotes a new signing key per algorithm and a new cookie key. Keys retired
 * longer than KEY_RETENTION_SECONDS ago are removed. Restart the instances (one at a time) to use the new keys.
 */
try {
  const config = loadConfig();
  const result = await rotateKeys(config.certsDir, config.keyRetentionSeconds);
  console.log(`added and promoted: ${result.added.join(', ')}`);
  if (result.retired.length) console.log(`retired (still published for verification): ${result.retired.join(', ')}`);
  if (result.removed.length) console.log(`removed (retired longer than ${config.keyRetentionSeconds} s): ${result.removed.join(', ')}`);
  console.log('restart the provider instances to sign with the new keys');
} catch (error) {
  console.error(error instanceof ConfigError ? `cannot rotate keys: ${error.message}` : error);
  process.exit(1);
}
