import crypto from 'node:crypto';
import { basicAuth, Cookies, type HttpClient, type Reply } from './http.js';

/** The relying parties of bench/lib/clients.ts, as the load generator sees them. */
export interface RelyingParty {
  base: string;
  clientId: string;
  secret: string;
  redirectUri: string;
}

export interface Credentials {
  account: string;
  password: string;
  /** Tick 以单位身份登录 and pick this unit. */
  unitId?: string;
}

export interface Tokens {
  access_token: string;
  refresh_token?: string;
  id_token?: string;
  token_type: string;
  expires_in: number;
  scope?: string;
}

function random(): string {
  return crypto.randomBytes(16).toString('base64url');
}

export function attribute(html: string, formId: string): { action: string; csrf: string } {
  const form = new RegExp(`<form[^>]*action="([^"]+)"[^>]*id="${formId}"`).exec(html);
  const csrf = /name="_csrf" value="([^"]+)"/.exec(html);
  if (!form || !csrf) throw new Error(`no form#${formId} with a CSRF token on the page:\n${html.slice(0, 600)}`);
  return { action: form[1]!.replace(/&amp;/g, '&'), csrf: csrf[1]! };
}

/**
 * One browser: follows the provider's redirects with its own cookies and stops at the redirect to the RP. It
 * understands exactly the forms the sign-in needs (person-login, select-unit) and finds them with regular
 * expressions rather than a DOM, to keep the client's CPU share small.
 */
export class FlowBrowser {
  readonly cookies = new Cookies();

  constructor(
    private readonly http: HttpClient,
    private readonly rp: RelyingParty,
  ) {}

  async get(url: string, headers: Record<string, string> = {}): Promise<Reply> {
    const reply = await this.http.request(new URL(url, this.rp.base).toString(), { headers: { cookie: this.cookies.header(), ...headers } });
    this.cookies.update(reply);
    return reply;
  }

  async post(url: string, fields: Record<string, string>, headers: Record<string, string> = {}): Promise<Reply> {
    const reply = await this.http.form(new URL(url, this.rp.base).toString(), fields, { cookie: this.cookies.header(), ...headers });
    this.cookies.update(reply);
    return reply;
  }

  /** Follows redirects at the provider; returns the page reached, or the redirect to the RP. */
  async follow(reply: Reply): Promise<Reply> {
    let current = reply;
    for (let hops = 0; hops < 20; hops += 1) {
      const location = current.headers.location;
      if (current.status < 300 || current.status >= 400 || !location) return current;
      if (location.startsWith(this.rp.redirectUri)) return current;
      current = await this.get(location);
    }
    throw new Error('too many redirects');
  }

  /** The login page of a fresh authorization request (for storms of sign-ins). */
  async loginPage(scope: string): Promise<{ action: string; csrf: string }> {
    const { url } = authorizationRequest(this.rp, scope);
    const page = await this.follow(await this.get(url));
    if (page.status !== 200) throw new Error(`authorization did not reach the login page: ${page.status}`);
    return attribute(page.body, 'person-login');
  }
}

export function authorizationRequest(rp: RelyingParty, scope: string, extra: Record<string, string> = {}) {
  const verifier = crypto.randomBytes(32).toString('base64url');
  const state = random();
  const challenge = crypto.createHash('sha256').update(verifier).digest('base64url');
  const params = new URLSearchParams({
    client_id: rp.clientId,
    redirect_uri: rp.redirectUri,
    response_type: 'code',
    scope,
    state,
    nonce: random(),
    code_challenge: challenge,
    code_challenge_method: 'S256',
    ...extra,
  });
  return { url: `${rp.base}/auth?${params.toString()}`, verifier, state };
}

export async function tokenRequest(http: HttpClient, rp: RelyingParty, fields: Record<string, string>): Promise<Tokens> {
  const reply = await http.form(`${rp.base}/token`, fields, { authorization: basicAuth(rp.clientId, rp.secret) });
  if (reply.status !== 200) throw new Error(`token endpoint answered ${reply.status}: ${reply.body.slice(0, 300)}`);
  return JSON.parse(reply.body) as Tokens;
}

/**
 * The whole password sign-in of Q-P1: authorize → login page → POST login (with the unit checkbox when a unit
 * is given) → unit picker → POST the unit → code at the RP → token endpoint. Pages without a form (a bare
 * provider's automatic interactions) are simply followed.
 */
export async function signIn(http: HttpClient, rp: RelyingParty, scope: string, credentials: Credentials | undefined): Promise<Tokens> {
  const browser = new FlowBrowser(http, rp);
  const request = authorizationRequest(rp, scope);
  let reply = await browser.follow(await browser.get(request.url));
  for (let step = 0; step < 5 && reply.status === 200; step += 1) {
    if (!credentials) throw new Error(`unexpected page: ${reply.body.slice(0, 300)}`);
    if (reply.body.includes('id="person-login"')) {
      const form = attribute(reply.body, 'person-login');
      const fields: Record<string, string> = { _csrf: form.csrf, account: credentials.account, password: credentials.password };
      if (credentials.unitId) fields.unitMode = '1';
      reply = await browser.follow(await browser.post(form.action, fields));
    } else if (reply.body.includes('id="select-unit"')) {
      const form = attribute(reply.body, 'select-unit');
      reply = await browser.follow(await browser.post(form.action, { _csrf: form.csrf, unitId: credentials.unitId ?? '' }));
    } else {
      throw new Error(`unexpected page: ${reply.body.slice(0, 300)}`);
    }
  }
  const location = reply.headers.location;
  if (!location?.startsWith(rp.redirectUri)) throw new Error(`sign-in did not return to the RP: ${reply.status} ${reply.body.slice(0, 300)}`);
  const callback = new URL(location);
  const code = callback.searchParams.get('code');
  if (!code || callback.searchParams.get('state') !== request.state) {
    throw new Error(`bad callback ${location}`);
  }
  const tokens = await tokenRequest(http, rp, { grant_type: 'authorization_code', code, redirect_uri: rp.redirectUri, code_verifier: request.verifier });
  if (!tokens.id_token) throw new Error('no ID token');
  return tokens;
}
