import { TEST_BUSINESSES } from '../../test/support/fixtures.js';
import type { RelyingParty } from './flow.js';

/** Literal secrets: benchmarks only (clients.json accepts literals of 32+ characters). */
export const BENCH_SECRET = 'bench-secret-0123456789abcdefghijklmnopqrstuvwxyz';
export const BENCH_REDIRECT = 'http://rp.bench/cb';
/** The resource of the business continuing_education in TEST_BUSINESSES: tokens for it are RS256 JWTs. */
export const BENCH_RESOURCE = 'https://ce.rp.test/api';
/** What a business system asks for when a handler signs in for a unit (test/e2e/unit-signin.test.ts). */
export const UNIT_SCOPE = 'openid profile unit biz:continuing_education';

/** clients.json of the benchmarks: an interactive first-party RP and a service using client credentials. */
export function benchClientsFile(): Record<string, unknown> {
  return {
    businesses: TEST_BUSINESSES,
    clients: [
      {
        client_id: 'bench-rp',
        client_secret: BENCH_SECRET,
        client_name: { 'zh-CN': '压测业务系统', en: 'Benchmark business system' },
        redirect_uris: [BENCH_REDIRECT],
        scopes: ['openid', 'profile', 'phone', 'offline_access', 'unit', 'biz:continuing_education', 'biz:social_insurance'],
        first_party: true,
        business: 'continuing_education',
      },
      {
        client_id: 'bench-service',
        client_secret: BENCH_SECRET,
        client_name: { 'zh-CN': '压测后台服务', en: 'Benchmark service' },
        grant_types: ['client_credentials'],
        redirect_uris: [BENCH_REDIRECT],
        scopes: ['biz:continuing_education'],
      },
    ],
  };
}

export function relyingParty(base: string): RelyingParty {
  return { base, clientId: 'bench-rp', secret: BENCH_SECRET, redirectUri: BENCH_REDIRECT };
}

export function service(base: string): RelyingParty {
  return { base, clientId: 'bench-service', secret: BENCH_SECRET, redirectUri: BENCH_REDIRECT };
}
