import type { Page } from './browser.js';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/**
 * Apache httpd with Debian's mod_auth_openidc as a relying party nobody here wrote (interop tests). The
 * configuration is self-contained in a temporary directory: no /etc/apache2, no system service.
 */

export const APACHE_BINARY = '/usr/sbin/apache2';
export const APACHE_MODULES = '/usr/lib/apache2/modules';

/** Modules loaded from APACHE_MODULES, in order (mod_unixd, mod_log_config and mod_so are compiled in). */
const MODULES: [name: string, file: string][] = [
  ['mpm_prefork_module', 'mod_mpm_prefork.so'],
  ['authn_core_module', 'mod_authn_core.so'],
  ['authz_core_module', 'mod_authz_core.so'],
  ['authz_user_module', 'mod_authz_user.so'],
  ['mime_module', 'mod_mime.so'],
  ['include_module', 'mod_include.so'],
  ['auth_openidc_module', 'mod_auth_openidc.so'],
];

const INSTALL_HINT = 'install them with: apt-get install -y --no-install-recommends apache2 libapache2-mod-auth-openidc ' + '(.ci/run does this in CI)';

/** Throws a readable error naming what is missing when Apache or mod_auth_openidc is not installed. */
export function assertApacheInstalled(): void {
  const missing = [APACHE_BINARY, ...MODULES.map(([, file]) => path.join(APACHE_MODULES, file))].filter((file) => !fs.existsSync(file));
  if (missing.length > 0) {
    throw new Error(`the Apache interop test needs Apache httpd and mod_auth_openidc; missing ${missing.join(', ')}; ${INSTALL_HINT}`);
  }
}

export interface ApacheRpOptions {
  port: number;
  /** The provider's issuer; discovery is read from `${issuer}/.well-known/openid-configuration`. */
  issuer: string;
  clientId: string;
  clientSecret: string;
  scope: string;
  /**
   * What `<Location /protected>` requires instead of `Require valid-user`, e.g. `claim unit_id:<id>`
   * (mod_auth_openidc's claim authorisation); each entry becomes one `Require` line. With it, Apache answers an
   * authenticated person who fails the rule with 403 (`AuthzSendForbiddenOnFailure On`).
   */
  require?: string[];
  /** Extra parameters of every authentication request (OIDCAuthRequestParams), e.g. `login_as=unit`. */
  authRequestParams?: string;
  /** The claims the protected page prints; PRINTED_CLAIMS when not given. */
  printedClaims?: string[];
}

export interface ApacheRp {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** The page behind `AuthType openid-connect`: an SSI page printing the claims mod_auth_openidc passes. */
  protectedUrl: string;
  redirectUri: string;
  /** Apache's error log (mod_auth_openidc logs there), for failure messages. */
  errorLog(): string;
  stop(): Promise<void>;
}

/** The claims the protected page prints, one `name=value` line each (SSI echo of OIDC_CLAIM_* variables). */
export const PRINTED_CLAIMS = ['sub', 'preferred_username', 'name', 'phone_number'];

/** The claims the protected page printed, from its `<li>name=value</li>` lines. */
export function readPrintedClaims(page: Page): Record<string, string> {
  const claims: Record<string, string> = {};
  for (const item of page.html.querySelectorAll('#claims li')) {
    const [name, ...value] = item.text.split('=');
    claims[name!] = value.join('=');
  }
  return claims;
}

export function redirectUriFor(port: number): string {
  return `http://127.0.0.1:${port}/protected/redirect_uri`;
}

function config(dir: string, options: ApacheRpOptions): string {
  const quote = (value: string) => `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
  // Apache started as root drops its workers' privileges to User/Group; otherwise the directives are ignored.
  const account = process.getuid?.() === 0 ? unprivilegedAccount() : undefined;
  return [
    `ServerRoot ${quote(dir)}`,
    `DefaultRuntimeDir ${quote(dir)}`,
    `PidFile ${quote(path.join(dir, 'httpd.pid'))}`,
    `ErrorLog ${quote(path.join(dir, 'error.log'))}`,
    'LogLevel warn auth_openidc:info',
    `Listen 127.0.0.1:${options.port}`,
    `ServerName 127.0.0.1:${options.port}`,
    ...MODULES.map(([name, file]) => `LoadModule ${name} ${quote(path.join(APACHE_MODULES, file))}`),
    ...(account ? [`User ${account.user}`, `Group ${account.group}`] : []),
    'StartServers 1',
    'MinSpareServers 1',
    'MaxSpareServers 2',
    'MaxRequestWorkers 4',
    `DocumentRoot ${quote(path.join(dir, 'htdocs'))}`,
    `TypesConfig ${quote(path.join(dir, 'mime.types'))}`,
    'AddDefaultCharset utf-8',
    'AddType text/html .shtml',
    'AddOutputFilter INCLUDES .shtml',
    `<Directory ${quote(path.join(dir, 'htdocs'))}>`,
    '  Options +IncludesNoExec',
    '  Require all granted',
    '</Directory>',
    '',
    `OIDCProviderMetadataURL ${quote(`${options.issuer}/.well-known/openid-configuration`)}`,
    `OIDCClientID ${quote(options.clientId)}`,
    `OIDCClientSecret ${quote(options.clientSecret)}`,
    `OIDCRedirectURI ${quote(redirectUriFor(options.port))}`,
    `OIDCCryptoPassphrase ${quote(options.clientSecret + '-apache-crypto')}`,
    `OIDCScope ${quote(options.scope)}`,
    'OIDCPKCEMethod S256',
    'OIDCProviderAuthRequestMethod GET',
    'OIDCProviderTokenEndpointAuth client_secret_basic',
    'OIDCPassClaimsAs environment',
    ...(options.authRequestParams ? [`OIDCAuthRequestParams ${quote(options.authRequestParams)}`] : []),
    '<Location /protected>',
    '  AuthType openid-connect',
    ...(options.require?.length ? [...options.require.map((rule) => `  Require ${rule}`), '  AuthzSendForbiddenOnFailure On'] : ['  Require valid-user']),
    '</Location>',
    '',
  ].join('\n');
}

function unprivilegedAccount(): { user: string; group: string } {
  const passwd = fs.readFileSync('/etc/passwd', 'utf8');
  for (const user of ['www-data', 'nobody']) {
    const entry = passwd.split('\n').find((line) => line.startsWith(`${user}:`));
    if (entry) return { user, group: `#${entry.split(':')[3]}` };
  }
  throw new Error('no unprivileged account (www-data or nobody) for Apache to run its workers as');
}

function claimsPage(claims: string[] = PRINTED_CLAIMS): string {
  const lines = claims.map((claim) => `<li>${claim}=<!--#echo var="OIDC_CLAIM_${claim}" --></li>`);
  return `<!doctype html>\n<html><head><meta charset="utf-8"><title>protected</title></head><body>\n<ul id="claims">\n${lines.join('\n')}\n</ul>\n</body></html>\n`;
}

async function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Writes the configuration, checks its syntax, starts Apache in the foreground and waits until it listens. */
export async function startApacheRp(options: ApacheRpOptions, timeoutMs = 10_000): Promise<ApacheRp> {
  assertApacheInstalled();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uop-apache-'));
  const htdocs = path.join(dir, 'htdocs');
  fs.mkdirSync(path.join(htdocs, 'protected'), { recursive: true });
  fs.writeFileSync(path.join(htdocs, 'protected', 'claims.shtml'), claimsPage(options.printedClaims));
  fs.writeFileSync(path.join(dir, 'mime.types'), ''); // the types needed are set with AddType
  const conf = path.join(dir, 'httpd.conf');
  fs.writeFileSync(conf, config(dir, options), { mode: 0o600 });
  // The workers (www-data when started as root) read the pages; mkdtemp creates the directory 0700.
  fs.chmodSync(dir, 0o755);
  const errorLog = () => {
    try {
      return fs.readFileSync(path.join(dir, 'error.log'), 'utf8');
    } catch {
      return '';
    }
  };
  const env = { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C' };

  const check = spawnSync(APACHE_BINARY, ['-d', dir, '-f', conf, '-t'], { env, encoding: 'utf8' });
  if (check.status !== 0) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw new Error(`apache2 -t rejected the generated configuration:\n${check.stderr}${check.stdout}`);
  }

  // Its own process group: on shutdown the Apache parent signals its whole group, which must not include jest.
  const child = spawn(APACHE_BINARY, ['-d', dir, '-f', conf, '-DFOREGROUND'], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      resolve();
    }),
  );

  const stop = async () => {
    if (!exited) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exit;
      clearTimeout(timer);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + timeoutMs;
  while (!(await listening(options.port))) {
    if (exited || Date.now() > deadline) {
      const log = errorLog();
      await stop();
      throw new Error(`Apache did not start listening on 127.0.0.1:${options.port}:\n${output}\n${log}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }

  const url = `http://127.0.0.1:${options.port}`;
  return { url, protectedUrl: `${url}/protected/claims.shtml`, redirectUri: redirectUriFor(options.port), errorLog: () => `${output}${errorLog()}`, stop };
}
