import { ConfigError, loadConfig } from '../src/config/env.js';
import { rotateKeys } from '../src/oidc/keys.js';

/**
 * `npm run keys:rotate [-- --stage | --promote]`: without an option, promotes the staged keys if any, otherwise
 * adds and promotes a new signing key per algorithm; `--stage` publishes new keys that do not sign yet, so that
 * relying parties cache them first; `--promote` makes them sign. A new cookie key is added at each promotion.
 * Keys retired longer than KEY_RETENTION_SECONDS ago are removed. Restart the instances (one at a time) after.
 */
const option = process.argv[2];
const mode = option === '--stage' ? 'stage' : option === '--promote' ? 'promote' : option === undefined ? 'rotate' : undefined;
if (!mode) {
  console.error('usage: npm run keys:rotate [-- --stage | --promote]');
  process.exit(2);
}
try {
  const config = loadConfig();
  const result = await rotateKeys(config.certsDir, config.keyRetentionSeconds, new Date(), mode);
  if (mode === 'stage') console.log(`staged (published, not signing yet): ${result.added.join(', ')}`);
  else console.log(`added and promoted: ${result.promoted.join(', ')}${result.added.length ? '' : ' (staged earlier)'}`);
  if (result.retired.length) console.log(`retired (still published for verification): ${result.retired.join(', ')}`);
  if (result.removed.length) console.log(`removed (retired longer than ${config.keyRetentionSeconds} s): ${result.removed.join(', ')}`);
  console.log('restart the provider instances to sign with the new keys');
} catch (error) {
  console.error(error instanceof ConfigError ? `cannot rotate keys: ${error.message}` : error);
  process.exit(1);
}
