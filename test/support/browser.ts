import http from 'node:http';
import { CookieJar } from 'tough-cookie';
import { parse, type HTMLElement } from 'node-html-parser';

export interface Page {
  url: string;
  status: number;
  headers: Headers;
  body: string;
  html: HTMLElement;
}

/**
 * A small HTTP browser for tests: a cookie jar, manual redirects it follows until it leaves the provider (the
 * RP's redirect URI is never fetched), and form submission by field name, as a person would fill the page in.
 */
export class Browser {
  readonly jar = new CookieJar();

  constructor(private readonly origin: string) {}

  /** Whether a URL belongs to the provider (followed) or to a relying party (returned to the test). */
  ownsUrl(url: string): boolean {
    return new URL(url).origin === new URL(this.origin).origin;
  }

  async request(url: string, init: RequestInit = {}): Promise<Page> {
    const absolute = new URL(url, this.origin).toString();
    const headers = new Headers(init.headers);
    const cookie = await this.jar.getCookieString(absolute);
    if (cookie) headers.set('cookie', cookie);
    const response = await fetch(absolute, { ...init, headers, redirect: 'manual' });
    for (const setCookie of response.headers.getSetCookie()) {
      await this.jar.setCookie(setCookie, absolute, { ignoreError: true });
    }
    const body = await response.text();
    return { url: absolute, status: response.status, headers: response.headers, body, html: parse(body) };
  }

  /** GET and follow redirects while they stay at the provider; returns the final page or the redirect out. */
  async get(url: string): Promise<Page> {
    return this.follow(await this.request(url));
  }

  async follow(page: Page): Promise<Page> {
    let current = page;
    for (let hops = 0; hops < 20; hops += 1) {
      const location = current.headers.get('location');
      if (current.status < 300 || current.status >= 400 || !location) return current;
      const next = new URL(location, current.url).toString();
      if (!this.ownsUrl(next)) return current;
      current = await this.request(next);
    }
    throw new Error('too many redirects');
  }

  /**
   * GETs a URL as a browser's top-level navigation does: `Sec-Fetch-Mode: navigate`, `Sec-Fetch-Dest: document`
   * and an HTML `Accept`. fetch() always sends `Sec-Fetch-Mode: cors`, which relying parties such as
   * mod_auth_openidc take for a script's request and answer 401 instead of redirecting to the provider, so this
   * goes through node:http. Uses and fills the same cookie jar as request().
   */
  async navigate(url: string): Promise<Page> {
    const absolute = new URL(url, this.origin);
    const headers: Record<string, string> = {
      accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
      'accept-language': 'zh-CN,zh;q=0.9,en;q=0.8',
      'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) uop-test-browser',
      'sec-fetch-mode': 'navigate',
      'sec-fetch-dest': 'document',
      'sec-fetch-site': 'none',
    };
    const cookie = await this.jar.getCookieString(absolute.toString());
    if (cookie) headers.cookie = cookie;
    if (absolute.protocol !== 'http:') throw new Error(`navigate() speaks plain HTTP only: ${absolute}`);
    const response = await new Promise<http.IncomingMessage>((resolve, reject) => {
      http.get(absolute, { headers }, resolve).on('error', reject);
    });
    const chunks: Buffer[] = [];
    for await (const chunk of response) chunks.push(chunk as Buffer);
    const responseHeaders = new Headers();
    for (let index = 0; index + 1 < response.rawHeaders.length; index += 2) {
      responseHeaders.append(response.rawHeaders[index]!, response.rawHeaders[index + 1]!);
    }
    for (const setCookie of responseHeaders.getSetCookie()) {
      await this.jar.setCookie(setCookie, absolute.toString(), { ignoreError: true });
    }
    const body = Buffer.concat(chunks).toString('utf8');
    return { url: absolute.toString(), status: response.statusCode ?? 0, headers: responseHeaders, body, html: parse(body) };
  }

  /**
   * Follows every redirect as navigations, whichever origin it goes to (through a relying party that is a real
   * server, e.g. Apache with mod_auth_openidc); the one cookie jar serves all origins. Returns the first page
   * that is not a redirect.
   */
  async navigateAll(page: Page): Promise<Page> {
    let current = page;
    for (let hops = 0; hops < 20; hops += 1) {
      const location = current.headers.get('location');
      if (current.status < 300 || current.status >= 400 || !location) return current;
      current = await this.navigate(new URL(location, current.url).toString());
    }
    throw new Error('too many redirects');
  }

  /** Submits the form (found by CSS selector) with its hidden fields plus the given values, and follows. */
  async submit(page: Page, selector: string, values: Record<string, string> = {}, submitter?: { name: string; value: string }): Promise<Page> {
    const form = page.html.querySelector(selector);
    if (!form) throw new Error(`no form ${selector} on ${page.url}:\n${page.body.slice(0, 2000)}`);
    const data = new URLSearchParams();
    for (const input of form.querySelectorAll('input')) {
      const name = input.getAttribute('name');
      const type = input.getAttribute('type') ?? 'text';
      if (!name || name in values) continue;
      if ((type === 'checkbox' || type === 'radio') && !input.hasAttribute('checked')) continue;
      data.append(name, input.getAttribute('value') ?? '');
    }
    for (const [name, value] of Object.entries(values)) data.append(name, value);
    if (submitter) data.append(submitter.name, submitter.value);
    const action = new URL(form.getAttribute('action') ?? page.url, page.url).toString();
    const method = (form.getAttribute('method') ?? 'get').toUpperCase();
    if (method === 'GET') return this.get(`${action}?${data.toString()}`);
    const response = await this.request(action, { method: 'POST', body: data.toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    return this.follow(response);
  }

  /** The text of the page (tags stripped), for assertions on what a person reads. */
  static text(page: Page): string {
    return page.html.text.replace(/\s+/g, ' ');
  }
}
