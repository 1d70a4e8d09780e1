import crypto from 'node:crypto';

/**
 * The signing keys of signed cookies, with Keygrip's interface (`sign`, `verify`, `index`: what the `cookies`
 * package that Koa and node-oidc-provider use calls) and Keygrip's signatures (HMAC-SHA1 in base64url without
 * padding, the first key signs, every key verifies), so cookies signed before stay valid. What differs is the cost
 * of a check (issue #15, Q-P1: every request of a sign-in reads several signed cookies): the digest is compared
 * with `crypto.timingSafeEqual`, where Keygrip's tsscmp hashed both strings again with a random key (two more
 * HMACs and random bytes per comparison), and each key is a KeyObject made once instead of a string converted at
 * every HMAC.
 */
export class CookieKeys {
  readonly #keys: crypto.KeyObject[];

  constructor(keys: readonly string[]) {
    if (keys.length === 0) throw new Error('cookie keys must be provided');
    this.#keys = keys.map((key) => crypto.createSecretKey(Buffer.from(key, 'utf8')));
  }

  #digest(data: string, key: crypto.KeyObject): string {
    return crypto.createHmac('sha1', key).update(data).digest('base64url');
  }

  sign(data: string): string {
    return this.#digest(data, this.#keys[0]!);
  }

  verify(data: string, digest: string): boolean {
    return this.index(data, digest) > -1;
  }

  /** The index of the key that signed `data` with `digest`, or -1. */
  index(data: string, digest: string): number {
    const given = Buffer.from(String(digest), 'utf8');
    for (const [index, key] of this.#keys.entries()) {
      const expected = Buffer.from(this.#digest(data, key), 'utf8');
      // The length of a digest is no secret (always 27 characters); its content is compared in constant time.
      if (given.length === expected.length && crypto.timingSafeEqual(given, expected)) return index;
    }
    return -1;
  }
}
