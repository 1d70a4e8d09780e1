import 'reflect-metadata';
import fs from 'node:fs';
import crypto from 'node:crypto';
import path from 'node:path';
import { plainToInstance, Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayNotEmpty,
  ArrayUnique,
  IsArray,
  IsBoolean,
  IsDefined,
  IsIn,
  IsObject,
  IsOptional,
  IsString,
  Length,
  Matches,
  MaxLength,
  ValidateNested,
  validateSync,
  type ValidationError,
} from 'class-validator';
import { ACCOUNT_KINDS, type AccountKind } from '../shared/account-id.js';
import { ConfigError, type RunMode } from './env.js';
import { composed } from '../shared/decorators.js';

/** The scopes of a person's identity and sign-in (C-T1), each with a translated description; not business scopes. */
export const IDENTITY_SCOPES = ['openid', 'profile', 'phone', 'offline_access', 'unit'] as const;

export const BASE_SCOPES = [...IDENTITY_SCOPES, 'manage'] as const;

export function isIdentityScope(scope: string): scope is (typeof IDENTITY_SCOPES)[number] {
  return (IDENTITY_SCOPES as readonly string[]).includes(scope);
}

/** Scopes that authorise the management API (S-47: never held by a business system). */
export const MANAGEMENT_SCOPES: ReadonlySet<string> = new Set(['manage']);
const AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'none'] as const;
const GRANT_TYPES = ['authorization_code', 'refresh_token', 'client_credentials'] as const;
const ABSOLUTE_URL = /^https?:\/\/[^\s#]+$/;

export class LocalizedText {
  @IsString()
  @Length(1, 64)
  'zh-CN'!: string;

  @IsOptional()
  @IsString()
  @Length(1, 64)
  en?: string;
}

/** A name in both languages, required: `{ "zh-CN": "…", "en": "…" }`. */
function LocalizedName(field: string): PropertyDecorator {
  return composed(
    IsDefined({ message: `${field} is required: { "zh-CN": "…", "en": "…" }` }),
    IsObject({ message: `${field} must be an object { "zh-CN": "…", "en": "…" }` }),
    ValidateNested(),
    Type(() => LocalizedText),
  );
}

/** An absolute http(s) URL. */
function HttpUrl(field: string): PropertyDecorator {
  return composed(IsString(), Matches(ABSOLUTE_URL, { message: `${field} must be an absolute http(s) URL` }));
}

export class BusinessEntry {
  /** Business code; its scope is `biz:<code>`. */
  @IsString()
  @Matches(/^[a-z][a-z0-9_]{1,39}$/, { message: 'code must be 2–40 lower-case letters, digits or _' })
  code!: string;

  @LocalizedName('name')
  name!: LocalizedText;

  /** Only a real-name verified unit may grant and use this business (C-T2, C-UI3). */
  @IsBoolean()
  requiresVerifiedUnit!: boolean;

  /** Signing in for this business needs a second factor (issue #18): a password-only session is stepped up. */
  @IsOptional()
  @IsBoolean({ message: 'requiresMfa must be true or false' })
  requiresMfa?: boolean;

  /** Where the portal tile leads (the business system's start page). */
  @IsOptional()
  @HttpUrl('portalUrl')
  portalUrl?: string;

  /** RFC 8707 resource indicator of the business system's API; tokens for it are JWTs (C-T4). */
  @IsOptional()
  @HttpUrl('resource')
  resource?: string;
}

export class WebhookEntry {
  /** Where the events are POSTed (https in production). */
  @HttpUrl('url')
  url!: string;

  /** `env:NAME` reads the secret from the environment; the value is a Standard Webhooks secret `whsec_<base64>`. */
  @IsString()
  @MaxLength(512)
  secret!: string;
}

export class ClientEntry {
  @IsString()
  @Matches(/^[A-Za-z0-9._-]{3,64}$/, { message: 'client_id must be 3–64 letters, digits, ".", "_" or "-"' })
  client_id!: string;

  /** `env:NAME` reads the secret from the environment; a literal must be at least 32 characters. */
  @IsOptional()
  @IsString()
  @MaxLength(512)
  client_secret?: string;

  /** Required: without it no page could name the system (a missing one once crashed the start with a TypeError). */
  @LocalizedName('client_name')
  client_name!: LocalizedText;

  @IsOptional()
  @IsIn(AUTH_METHODS)
  token_endpoint_auth_method?: (typeof AUTH_METHODS)[number];

  @IsOptional()
  @IsArray()
  @ArrayUnique()
  @IsIn(GRANT_TYPES, { each: true })
  grant_types?: (typeof GRANT_TYPES)[number][];

  @IsArray()
  @ArrayNotEmpty()
  @ArrayMaxSize(20)
  @ArrayUnique()
  @Matches(ABSOLUTE_URL, { each: true, message: 'redirect_uris must be absolute http(s) URLs without a fragment' })
  redirect_uris!: string[];

  @IsOptional()
  @IsArray()
  @ArrayMaxSize(20)
  @ArrayUnique()
  @Matches(ABSOLUTE_URL, { each: true, message: 'post_logout_redirect_uris must be absolute http(s) URLs without a fragment' })
  post_logout_redirect_uris?: string[];

  @IsOptional()
  @HttpUrl('backchannel_logout_uri')
  backchannel_logout_uri?: string;

  /** Scopes the client may request: the base scopes and `biz:<code>` of catalogue businesses. */
  @IsArray()
  @ArrayNotEmpty()
  @ArrayUnique()
  @IsString({ each: true })
  scopes!: string[];

  /** A first-party client skips the consent page. */
  @IsOptional()
  @IsBoolean()
  first_party?: boolean;

  /** The catalogue business this client is the system of (links its portal tile to it). */
  @IsOptional()
  @IsString()
  business?: string;

  /**
   * Which accounts sign in to this client: persons (default; every business system), or — for integrations of
   * the management API only — unit accounts or operators (R-U3: never for a business system).
   */
  @IsOptional()
  @IsIn(ACCOUNT_KINDS)
  account_kind?: AccountKind;

  /** The business system's event webhook (Standard Webhooks), see README "Event webhooks". */
  @IsOptional()
  @ValidateNested()
  @Type(() => WebhookEntry)
  webhooks?: WebhookEntry;
}

export class ClientsFile {
  @IsArray()
  @ArrayMaxSize(100)
  @ValidateNested({ each: true })
  @Type(() => BusinessEntry)
  businesses!: BusinessEntry[];

  @IsArray()
  @ArrayMaxSize(500)
  @ValidateNested({ each: true })
  @Type(() => ClientEntry)
  clients!: ClientEntry[];
}

export interface Business {
  code: string;
  scope: string;
  name: { 'zh-CN': string; en: string };
  requiresVerifiedUnit: boolean;
  requiresMfa: boolean;
  portalUrl: string | undefined;
  resource: string | undefined;
}

export interface RegisteredClient {
  clientId: string;
  name: { 'zh-CN': string; en: string };
  firstParty: boolean;
  business: string | undefined;
  accountKind: AccountKind;
  /** Its event webhook, the secret resolved (never logged nor stored in the database). */
  webhook: { url: string; secret: string } | undefined;
  /** Client metadata in the form node-oidc-provider takes. */
  metadata: Record<string, unknown>;
}

export interface ClientCatalog {
  businesses: Business[];
  clients: RegisteredClient[];
  /** The registered client with this id (the one look-up of a client by id). */
  client(clientId: unknown): RegisteredClient | undefined;
  /** Client ids whose secret was generated for local development (printed at start). */
  generatedSecrets: Record<string, string>;
}

function describe(errors: ValidationError[], prefix: string): string[] {
  return errors.flatMap((error) => {
    const here = prefix ? `${prefix}.${error.property}` : error.property;
    const own = Object.values(error.constraints ?? {}).map((message) =>
      message.startsWith(`${error.property} `) ? `${prefix ? `${prefix}.` : ''}${message}` : `${here}: ${message}`,
    );
    return [...own, ...describe(error.children ?? [], here)];
  });
}

function fail(file: string, what: string): never {
  throw new ConfigError(`${path.basename(file)}: ${what}`);
}

/** Development secrets are generated once and kept beside the embedded database, never in git. */
function developmentSecret(dataDir: string, clientId: string, store: Record<string, string>): string {
  const file = path.join(dataDir, 'dev-client-secrets.json');
  if (Object.keys(store).length === 0 && fs.existsSync(file)) {
    Object.assign(store, JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, string>);
  }
  let secret = store[clientId];
  if (!secret) {
    secret = crypto.randomBytes(32).toString('base64url');
    store[clientId] = secret;
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    fs.writeFileSync(`${file}.tmp`, JSON.stringify(store, null, 2), { mode: 0o600 });
    fs.renameSync(`${file}.tmp`, file);
  }
  return secret;
}

interface SecretContext {
  file: string;
  mode: RunMode;
  env: Record<string, string | undefined>;
  dataDir: string;
  devStore: Record<string, string>;
  generated: Record<string, string>;
}

function resolveSecret(entry: ClientEntry, ctx: SecretContext): string | undefined {
  const method = entry.token_endpoint_auth_method ?? 'client_secret_basic';
  const where = `client "${entry.client_id}": client_secret`;
  if (method === 'none') {
    if (entry.client_secret) fail(ctx.file, `${where} must be absent for a public client (token_endpoint_auth_method none)`);
    return undefined;
  }
  const raw = entry.client_secret;
  if (!raw) fail(ctx.file, `${where} is required for ${method}`);
  if (!raw.startsWith('env:')) {
    if (raw.length < 32) fail(ctx.file, `${where} must be at least 32 characters (or an env:NAME reference)`);
    return raw;
  }
  const name = raw.slice(4);
  if (!/^[A-Z_][A-Z0-9_]*$/.test(name)) fail(ctx.file, `${where} refers to an invalid variable name "${name}"`);
  const value = ctx.env[name];
  if (value) {
    if (value.length < 32) fail(ctx.file, `${where}: environment variable ${name} must hold at least 32 characters`);
    return value;
  }
  if (ctx.mode === 'production') fail(ctx.file, `${where}: environment variable ${name} is not set`);
  const generated = developmentSecret(ctx.dataDir, entry.client_id, ctx.devStore);
  ctx.generated[entry.client_id] = generated;
  return generated;
}

function toBusiness(entry: BusinessEntry): Business {
  return {
    code: entry.code,
    scope: `biz:${entry.code}`,
    name: { 'zh-CN': entry.name['zh-CN'], en: entry.name.en ?? entry.name['zh-CN'] },
    requiresVerifiedUnit: entry.requiresVerifiedUnit,
    requiresMfa: entry.requiresMfa ?? false,
    portalUrl: entry.portalUrl,
    resource: entry.resource,
  };
}

const WEBHOOK_SECRET = /^whsec_([A-Za-z0-9+/]+={0,2})$/;

/** The webhook's secret: `env:NAME` or a literal, `whsec_` and base64 of at least 24 bytes; https in production. */
function resolveWebhook(entry: ClientEntry, ctx: SecretContext): { url: string; secret: string } | undefined {
  const hook = entry.webhooks;
  if (!hook) return undefined;
  const where = `client "${entry.client_id}": webhooks`;
  if (ctx.mode === 'production' && !hook.url.startsWith('https://')) fail(ctx.file, `${where}.url must be an https URL in production`);
  let secret = hook.secret;
  if (secret.startsWith('env:')) {
    const name = secret.slice(4);
    if (!/^[A-Z_][A-Z0-9_]*$/.test(name)) fail(ctx.file, `${where}.secret refers to an invalid variable name "${name}"`);
    const value = ctx.env[name];
    if (!value) fail(ctx.file, `${where}.secret: environment variable ${name} is not set`);
    secret = value;
  }
  const match = WEBHOOK_SECRET.exec(secret);
  if (!match || Buffer.from(match[1]!, 'base64').length < 24) {
    fail(ctx.file, `${where}.secret must be whsec_ followed by the base64 of at least 24 random bytes (e.g. "whsec_$(openssl rand -base64 32)")`);
  }
  return { url: hook.url, secret };
}

function toClient(entry: ClientEntry, secret: string | undefined, webhook?: { url: string; secret: string }): RegisteredClient {
  const grantTypes = entry.grant_types ?? ['authorization_code', 'refresh_token'];
  const interactive = grantTypes.includes('authorization_code');
  const metadata: Record<string, unknown> = {
    client_id: entry.client_id,
    client_name: entry.client_name['zh-CN'],
    grant_types: grantTypes,
    response_types: interactive ? ['code'] : [],
    redirect_uris: interactive ? entry.redirect_uris : [],
    token_endpoint_auth_method: entry.token_endpoint_auth_method ?? 'client_secret_basic',
    scope: entry.scopes.join(' '),
  };
  if (secret) metadata.client_secret = secret;
  if (entry.post_logout_redirect_uris) metadata.post_logout_redirect_uris = entry.post_logout_redirect_uris;
  if (entry.backchannel_logout_uri) {
    metadata.backchannel_logout_uri = entry.backchannel_logout_uri;
    metadata.backchannel_logout_session_required = true;
  }
  return {
    clientId: entry.client_id,
    name: { 'zh-CN': entry.client_name['zh-CN'], en: entry.client_name.en ?? entry.client_name['zh-CN'] },
    firstParty: entry.first_party ?? false,
    business: entry.business,
    accountKind: entry.account_kind ?? 'person',
    webhook,
    metadata,
  };
}

function checkReferences(file: string, parsed: ClientsFile): void {
  const codes = new Set<string>();
  for (const business of parsed.businesses) {
    if (codes.has(business.code)) fail(file, `business "${business.code}" is listed twice`);
    codes.add(business.code);
  }
  const known = new Set<string>([...BASE_SCOPES, ...[...codes].map((code) => `biz:${code}`)]);
  const ids = new Set<string>();
  for (const client of parsed.clients) {
    const where = `client "${client.client_id}"`;
    if (ids.has(client.client_id)) fail(file, `${where} is listed twice`);
    ids.add(client.client_id);
    for (const scope of client.scopes) {
      if (!known.has(scope)) fail(file, `${where}: scopes: unknown scope "${scope}" (not a base scope nor biz:<code> of a listed business)`);
    }
    if (client.business !== undefined && !codes.has(client.business)) {
      fail(file, `${where}: business: "${client.business}" is not in businesses`);
    }
    // S-47: a business system never holds a management scope: the `manage` token would let it act on the consoles'
    // operations for whoever signs in to it.
    const businessSystem = client.business !== undefined || client.scopes.some((scope) => scope.startsWith('biz:') || scope === 'unit');
    if (businessSystem && client.scopes.some((scope) => MANAGEMENT_SCOPES.has(scope))) {
      fail(file, `${where}: scopes: a business system (business, unit or biz: scopes) cannot hold the management scope "manage"; register a separate management client`);
    }
    if (client.account_kind && client.account_kind !== 'person') {
      if (client.business || client.scopes.some((scope) => scope.startsWith('biz:') || scope === 'unit')) {
        fail(
          file,
          `${where}: account_kind: a client for ${client.account_kind} accounts is a management integration and cannot be a business system (no business, unit or biz: scopes)`,
        );
      }
    }
    const grants = client.grant_types ?? ['authorization_code', 'refresh_token'];
    if (client.token_endpoint_auth_method === 'none' && grants.includes('client_credentials')) {
      fail(file, `${where}: grant_types: a public client cannot use client_credentials`);
    }
  }
}

export interface LoadClientsOptions {
  file: string;
  mode: RunMode;
  dataDir: string;
  env?: Record<string, string | undefined>;
}

/** Loads and validates clients.json; any problem becomes a ConfigError naming the client and the field. */
export function loadClients(options: LoadClientsOptions): ClientCatalog {
  const { file } = options;
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    fail(file, code === 'ENOENT' ? `not found at ${file} (set CLIENTS_FILE)` : `cannot be read (${code ?? 'error'})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    fail(file, `is not valid JSON (${(error as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail(file, 'must hold an object with "businesses" and "clients"');
  const parsed = plainToInstance(ClientsFile, json);
  const errors = validateSync(parsed, { whitelist: true, forbidNonWhitelisted: true, forbidUnknownValues: true });
  if (errors.length > 0) {
    const raw = json as { clients?: unknown[]; businesses?: unknown[] };
    const first = describe(errors, '')[0] ?? 'invalid';
    // Name the entry by its id rather than its index when it has one.
    const named = first.replace(/^(clients|businesses)\.(\d+)\.?/, (_, list: 'clients' | 'businesses', index: string) => {
      const item = raw[list]?.[Number(index)] as Record<string, unknown> | undefined;
      const id = list === 'clients' ? item?.client_id : item?.code;
      const label = list === 'clients' ? 'client' : 'business';
      return typeof id === 'string' ? `${label} "${id}": ` : `${label} #${Number(index) + 1}: `;
    });
    fail(file, named);
  }
  checkReferences(file, parsed);
  const ctx: SecretContext = { file, mode: options.mode, env: options.env ?? process.env, dataDir: options.dataDir, devStore: {}, generated: {} };
  const clients = parsed.clients.map((entry) => toClient(entry, resolveSecret(entry, ctx), resolveWebhook(entry, ctx)));
  const byId = new Map(clients.map((client) => [client.clientId, client]));
  return {
    businesses: parsed.businesses.map(toBusiness),
    clients,
    generatedSecrets: ctx.generated,
    client: (clientId) => (typeof clientId === 'string' ? byId.get(clientId) : undefined),
  };
}
