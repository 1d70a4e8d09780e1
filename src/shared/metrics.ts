import type { Context, Middleware, Next } from 'koa';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * The process's Prometheus metrics (prom-client). One registry per process, like prom-client's default one but
 * our own, so that nothing a library registers leaks into it. The code that counts calls the thin functions
 * below; sources that are read at scrape time (pools, queues, keys) register themselves. Every label has a
 * bounded set of values: route templates (never raw paths), client ids from clients.json, fixed enumerations.
 */
export const registry = new Registry();
collectDefaultMetrics({ register: registry });

const SECONDS_FAST = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** A metric of this registry: its name, its help text and its labels (a bounded set of values each). */
function counter<L extends string>(name: string, help: string, labelNames: readonly L[]): Counter<L> {
  return new Counter({ name, help, labelNames, registers: [registry] });
}

function histogram<L extends string>(name: string, help: string, labelNames: readonly L[], buckets: number[]): Histogram<L> {
  return new Histogram({ name, help, labelNames, buckets, registers: [registry] });
}

/** A gauge read at scrape time: `collect` sets its values. */
function gauge<L extends string>(name: string, help: string, labelNames: readonly L[], collect: (this: Gauge<L>) => void | Promise<void>): Gauge<L> {
  return new Gauge({ name, help, labelNames, registers: [registry], collect });
}

const httpDuration = histogram('uop_http_request_duration_seconds', 'HTTP request latency by route template, method and status code.', ['route', 'method', 'status'], SECONDS_FAST);
const tokensIssued = counter('uop_tokens_issued_total', 'Successful token endpoint responses by grant type and client.', ['grant_type', 'client_id']);
const signIns = counter('uop_sign_in_attempts_total', 'Password checks (sign-ins and password confirmations) by account kind and result (success, failure, locked).', [
  'kind',
  'result',
]);
const lockouts = counter('uop_lockouts_total', 'Lockouts imposed by the shared throttle, by what was counted (e.g. login:person, login:ip, recovery:cert).', ['scope']);
const hashWait = histogram(
  'uop_password_hash_wait_seconds',
  'Time an argon2 operation waited for a free hashing slot (HASH_CONCURRENCY).',
  [],
  [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
);
const queryDuration = histogram(
  'uop_db_query_duration_seconds',
  'Database statement latency (plain statements and statements inside transactions), by outcome.',
  ['outcome'],
  SECONDS_FAST,
);
const backchannel = counter('uop_backchannel_logout_total', 'Back-channel logout deliveries by client and result (success, failure).', ['client_id', 'result']);
const jobsCompleted = counter('uop_jobs_completed_total', 'Jobs of the job queue that completed, by kind.', ['kind']);
const jobsRetried = counter('uop_jobs_retried_total', 'Job attempts that failed and were scheduled again, by kind.', ['kind']);
const jobsFailed = counter('uop_jobs_failed_total', 'Jobs that failed for good (no attempts left), by kind.', ['kind']);

// Sources read at scrape time. Weak references: an application that is gone (tests start many) stops counting.
const hashQueues = new Set<WeakRef<{ readonly queued: number }>>();
export interface PoolStats {
  total: number;
  idle: number;
  waiting: number;
}
const pools = new Set<() => PoolStats | undefined>();
let signingKeys: (() => { alg: string; createdAt: Date }[]) | undefined;
let jobDepth: (() => Promise<{ kind: string; state: string; count: number }[]>) | undefined;

gauge('uop_password_hash_queue_length', 'argon2 operations waiting for a hashing slot now.', [], function () {
  let queued = 0;
  for (const ref of hashQueues) {
    const queue = ref.deref();
    if (queue) queued += queue.queued;
    else hashQueues.delete(ref);
  }
  this.set(queued);
});

gauge('uop_db_pool_connections', 'Database pool connections by state (total open, idle) and clients waiting for one.', ['state'], function () {
  const sum: PoolStats = { total: 0, idle: 0, waiting: 0 };
  for (const read of pools) {
    const stats = read();
    if (!stats) continue;
    sum.total += stats.total;
    sum.idle += stats.idle;
    sum.waiting += stats.waiting;
  }
  this.set({ state: 'total' }, sum.total);
  this.set({ state: 'idle' }, sum.idle);
  this.set({ state: 'waiting' }, sum.waiting);
});

gauge('uop_signing_key_age_seconds', 'Age of the key that signs, per algorithm (since it was created; see keys:rotate).', ['alg'], function () {
  this.reset();
  const now = Date.now();
  for (const key of signingKeys?.() ?? []) this.set({ alg: key.alg }, Math.max(0, (now - key.createdAt.getTime()) / 1000));
});

gauge('uop_jobs_queued', 'Jobs in the job queue by kind and state, as the queue reports them.', ['kind', 'state'], async function () {
  this.reset();
  if (!jobDepth) return;
  try {
    for (const row of await jobDepth()) this.set({ kind: row.kind, state: row.state }, row.count);
  } catch {
    // an unreachable database must not break the scrape; the pool and readiness metrics show it
  }
});

/** Observes every request: latency by route template (ours, the provider's, or a fixed bucket). */
export function httpMetrics(): Middleware {
  return async (ctx: Context, next: Next) => {
    const end = httpDuration.startTimer();
    try {
      await next();
    } finally {
      end({ route: routeOf(ctx), method: KNOWN_METHODS.has(ctx.method) ? ctx.method : 'OTHER', status: String(ctx.status) });
    }
  };
}

const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** The route template of a finished request (ours, the provider's, or a fixed bucket); low cardinality. */
export function routeOf(ctx: Context): string {
  const oidcRoute = (ctx as unknown as { oidc?: { route?: string } }).oidc?.route;
  if (oidcRoute) return `oidc:${oidcRoute}`;
  const matched = (ctx as unknown as { _matchedRoute?: unknown })._matchedRoute;
  if (typeof matched === 'string') return matched;
  if (ctx.path.startsWith('/static/')) return '/static';
  return 'unmatched';
}

export const metrics = {
  tokenIssued(grantType: string, clientId: string): void {
    tokensIssued.inc({ grant_type: grantType, client_id: clientId });
  },
  signIn(kind: string, result: 'success' | 'failure' | 'locked'): void {
    signIns.inc({ kind, result });
  },
  /** `key` is a throttle key such as `login:person:<id>`; only its first two segments become the label. */
  lockout(key: string): void {
    lockouts.inc({ scope: key.split(':').slice(0, 2).join(':') });
  },
  hashWaited(seconds: number): void {
    hashWait.observe(seconds);
  },
  queryTimer(): (ok: boolean) => void {
    const end = queryDuration.startTimer();
    return (ok) => end({ outcome: ok ? 'ok' : 'error' });
  },
  backchannelLogout(clientId: string, ok: boolean): void {
    backchannel.inc({ client_id: clientId, result: ok ? 'success' : 'failure' });
  },
  registerHashQueue(queue: { readonly queued: number }): void {
    hashQueues.add(new WeakRef(queue));
  },
  /** Returns the function that unregisters the pool (call it when the database closes). */
  registerPool(read: () => PoolStats | undefined): () => void {
    pools.add(read);
    return () => pools.delete(read);
  },
  registerSigningKeys(read: () => { alg: string; createdAt: Date }[]): void {
    signingKeys = read;
  },
};

/**
 * The job queue's hook: it registers how to read its depth and reports each outcome. The metric names are
 * fixed here so that the dashboard and the alerts can rely on them.
 */
export function registerJobQueue(depth: () => Promise<{ kind: string; state: string; count: number }[]>) {
  jobDepth = depth;
  return { completed: (kind: string) => jobsCompleted.inc({ kind }), retried: (kind: string) => jobsRetried.inc({ kind }), failed: (kind: string) => jobsFailed.inc({ kind }) };
}

/** The exposition text and its content type. */
export async function scrape(): Promise<{ contentType: string; body: string }> {
  return { contentType: registry.contentType, body: await registry.metrics() };
}
