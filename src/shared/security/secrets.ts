import crypto from 'node:crypto';

/**
 * Keyed operations derived from the data key (certs/data-key.json) with HKDF, one subkey per purpose, so that a
 * value of one kind can never be confused with another.
 */
export class Secrets {
  readonly #subkeys = new Map<string, Buffer>();

  constructor(private readonly master: Buffer) {}

  #key(purpose: string): Buffer {
    let key = this.#subkeys.get(purpose);
    if (!key) {
      key = Buffer.from(crypto.hkdfSync('sha256', this.master, Buffer.alloc(0), `unit-oidc-provider:${purpose}`, 32));
      this.#subkeys.set(purpose, key);
    }
    return key;
  }

  /** Deterministic keyed digest (for lookups and uniqueness of values we must not store in clear). */
  hmac(purpose: string, value: string): string {
    return crypto.createHmac('sha256', this.#key(purpose)).update(value, 'utf8').digest('base64url');
  }

  /** Constant-time comparison of a value with a stored HMAC. */
  hmacEquals(purpose: string, value: string, stored: string): boolean {
    const computed = Buffer.from(this.hmac(purpose, value));
    const expected = Buffer.from(stored);
    return computed.length === expected.length && crypto.timingSafeEqual(computed, expected);
  }

  /** AES-256-GCM with a random nonce; output `v1.<nonce>.<ciphertext+tag>`. */
  encrypt(purpose: string, plaintext: string): string {
    const nonce = crypto.randomBytes(12);
    const cipher = crypto.createCipheriv('aes-256-gcm', this.#key(`enc:${purpose}`), nonce);
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return `v1.${nonce.toString('base64url')}.${body.toString('base64url')}`;
  }

  decrypt(purpose: string, sealed: string): string {
    const [version, nonce, body] = sealed.split('.');
    if (version !== 'v1' || !nonce || !body) throw new Error('unsupported sealed value');
    const data = Buffer.from(body, 'base64url');
    const decipher = crypto.createDecipheriv('aes-256-gcm', this.#key(`enc:${purpose}`), Buffer.from(nonce, 'base64url'));
    decipher.setAuthTag(data.subarray(data.length - 16));
    return Buffer.concat([decipher.update(data.subarray(0, data.length - 16)), decipher.final()]).toString('utf8');
  }
}

/** Uniform random string over an alphabet, without modulo bias. */
export function randomString(length: number, alphabet: string): string {
  let out = '';
  while (out.length < length) {
    for (const byte of crypto.randomBytes(length * 2)) {
      const limit = 256 - (256 % alphabet.length);
      if (byte < limit) out += alphabet[byte % alphabet.length];
      if (out.length === length) break;
    }
  }
  return out;
}
