import type { AppConfig } from './config/env.js';
import type { ClientCatalog } from './config/clients.js';
import type { Database } from './shared/db/database.js';
import type { Logger } from './shared/logger.js';
import { AuditLog } from './modules/audit/audit-log.js';
import { PersonService } from './modules/persons/service.js';
import { OperatorService } from './modules/operators/service.js';
import type { Notifier } from './shared/notifier/notifier.js';
import { createNotifier, supportsChannel } from './shared/notifier/select.js';
import { QueuedNotifier } from './shared/notifier/queued.js';
import { JobQueue } from './modules/jobs/queue.js';
import { OneTimeCodes } from './shared/security/one-time-codes.js';
import { PasswordHasher } from './shared/security/passwords.js';
import { PasswordSignIn } from './shared/security/password-sign-in.js';
import { Secrets } from './shared/security/secrets.js';
import { NoticeService } from './modules/notices/service.js';
import { Throttle } from './shared/security/throttle.js';
import { OidcSessions } from './oidc/sessions.js';
import { UnitGrants } from './oidc/unit-grants.js';
import { UnitService } from './modules/units/service.js';
import { UnitVerification } from './modules/units/verification.js';
import { BindingService } from './modules/bindings/service.js';
import { WebhookEvents } from './modules/webhooks/events.js';
import { RecoveryService } from './modules/recovery/service.js';
import { AppealService } from './modules/recovery/appeals.js';
import { SecondFactorService } from './modules/mfa/service.js';
import { UnitMfaPolicy } from './modules/mfa/unit-policy.js';
import { PasskeyService } from './modules/mfa/passkeys.js';
import { OperatorDashboard } from './modules/operators/dashboard.js';
import { JobRetry } from './modules/jobs/retry.js';

export interface ServiceDeps {
  config: AppConfig;
  db: Database;
  catalog: ClientCatalog;
  dataKey: Buffer;
  logger: Logger;
  /** The outside world; when not given, the one of the configuration (SMS gateway, SMTP, or the development outbox). */
  notifier?: Notifier;
  now?: () => Date;
}

/** The composition root of the domain: every service, built once per application from its dependencies. */
export function createServices(deps: ServiceDeps) {
  const now = deps.now ?? (() => new Date());
  const { db, config } = deps;
  const secrets = new Secrets(deps.dataKey);
  const audit = new AuditLog(db, now);
  const throttle = new Throttle(db, now);
  const jobs = new JobQueue(db, { ...config.jobs, now });
  // Services send through the queue; the worker delivers through the outside world (S-56).
  const delivery = deps.notifier ?? createNotifier(config, db, deps.logger, now);
  const notifier = new QueuedNotifier(jobs, db, delivery);
  const events = new WebhookEvents(jobs, deps.catalog, now);
  const hasher = new PasswordHasher(config.hashConcurrency, config.hashQueueMax);
  const signIn = new PasswordSignIn(throttle, hasher, (kind, scope, accountId, ip) =>
    audit.record(
      { actor: { type: 'anonymous' }, ip },
      { action: 'sign_in.lockout', outcome: 'failure', target: accountId ? { type: kind, id: accountId } : undefined, detail: { kind, scope } },
    ),
  );
  const codes = new OneTimeCodes(db, secrets, notifier, throttle, now);
  const sessions = new OidcSessions(db, jobs, now);
  const persons = new PersonService({
    db,
    hasher,
    codes,
    throttle,
    signIn,
    audit,
    secrets,
    notifier,
    sessions,
    events,
    now,
    identityJobs: config.identityVerification ? jobs : undefined,
  });
  const operators = new OperatorService({
    db,
    hasher,
    throttle,
    signIn,
    audit,
    secrets,
    sessions,
    issuerName: new URL(config.issuer).host,
    developmentTotp: config.mode !== 'production',
    now,
  });
  const mfa = new SecondFactorService({ db, throttle, audit, secrets, issuerName: new URL(config.issuer).host, now });
  const passkeys = new PasskeyService({ db, throttle, audit, issuer: config.issuer, rpName: '统一身份认证平台', recoveryCodes: mfa, now });
  const allScopes = () => deps.catalog.businesses.map((business) => business.scope);
  const unitGrants = new UnitGrants(db, jobs, now);
  const unitMfa = new UnitMfaPolicy({ db, audit, revoker: unitGrants, now });
  // Unit registration writes the first contact binding through the bindings module, built next (called later only).
  const units: UnitService = new UnitService({
    db,
    persons,
    bindings: { insertActive: (tx, binding): Promise<void> => bindings.insertActive(tx, binding) },
    hasher,
    signIn,
    audit,
    sessions,
    revoker: unitGrants,
    allScopes,
    events,
    now,
  });
  const notices = new NoticeService({ db, notifier, now });
  const bindings: BindingService = new BindingService({ db, persons, units, audit, allScopes, revoker: unitGrants, events, notices, now });
  const verification = new UnitVerification({ db, secrets, throttle, audit, ttlHours: config.unitCodeTtlHours, events, now });
  const recovery = new RecoveryService({ db, units, bindings, codes, hasher, throttle, audit, secrets, sessions, now });
  const appeals = new AppealService({
    db,
    units,
    persons,
    bindings,
    notifier,
    emailEnabled: supportsChannel(notifier, 'email'),
    hasher,
    throttle,
    audit,
    secrets,
    sessions,
    issuer: config.issuer,
    revoker: unitGrants,
    events,
    allScopes,
    now,
  });
  const dashboard = new OperatorDashboard(db, jobs, now);
  const jobRetry = new JobRetry(db, jobs, audit);
  return {
    config,
    catalog: deps.catalog,
    db,
    jobs,
    jobRetry,
    dashboard,
    secrets,
    audit,
    throttle,
    notifier,
    hasher,
    codes,
    sessions,
    persons,
    operators,
    mfa,
    unitMfa,
    passkeys,
    units,
    bindings,
    notices,
    verification,
    unitGrants,
    recovery,
    appeals,
    events,
    now,
  };
}

/** Everything the composition root built, the database included (app wiring, demo data, tests). */
export type AllServices = ReturnType<typeof createServices>;

/**
 * What routers, the provider layer and the other consumers of the bag receive: every service, but not the database
 * (SQL lives in services and stores; a route never runs a statement).
 */
export type Services = Omit<AllServices, 'db'>;
