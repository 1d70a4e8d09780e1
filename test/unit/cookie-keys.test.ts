import crypto from 'node:crypto';
import Keygrip from 'keygrip';
import { CookieKeys } from '../../src/shared/http/cookie-keys.js';

/** Issue #15: the cookie signer keeps Keygrip's signatures, so cookies signed before the change stay valid. */
describe('cookie keys (Keygrip-compatible)', () => {
  const keys = [crypto.randomBytes(32).toString('base64url'), crypto.randomBytes(32).toString('base64url'), '签名密钥-with-ünïcode-0123456789abcdef'];
  const ours = new CookieKeys(keys);
  const keygrip = new Keygrip(keys);
  const data = ['_interaction=abc', '_session.legacy=x; path=/; httponly', `csrf=${crypto.randomBytes(24).toString('base64url')}`, '名=值'];

  it('when data is signed, then the signature is the one Keygrip makes, and each verifies the other', () => {
    for (const value of data) {
      expect(ours.sign(value)).toBe(keygrip.sign(value));
      expect(ours.index(value, keygrip.sign(value))).toBe(0);
      expect(keygrip.index(value, ours.sign(value))).toBe(0);
      expect(ours.verify(value, keygrip.sign(value))).toBe(true);
    }
  });

  it('when a cookie was signed with an older key, then its index is that key, as with Keygrip', () => {
    for (const [position] of keys.entries()) {
      const older = new Keygrip(keys.slice(position));
      for (const value of data) {
        expect(ours.index(value, older.sign(value))).toBe(position);
        expect(ours.index(value, older.sign(value))).toBe(keygrip.index(value, older.sign(value)));
      }
    }
  });

  it('when the signature is altered, cut, lengthened or made with an unknown key, then no key matches', () => {
    const value = data[0]!;
    const signature = ours.sign(value);
    const flipped = `${signature.slice(0, -1)}${signature.endsWith('A') ? 'B' : 'A'}`;
    const stranger = new Keygrip([crypto.randomBytes(32).toString('base64url')]).sign(value);
    for (const bad of [flipped, signature.slice(0, -1), `${signature}A`, '', stranger]) {
      expect(ours.index(value, bad)).toBe(-1);
      expect(ours.verify(value, bad)).toBe(false);
      expect(keygrip.index(value, bad)).toBe(-1);
    }
    expect(ours.index(`${value}x`, signature)).toBe(-1);
  });

  it('when no key is given, then it refuses to start', () => {
    expect(() => new CookieKeys([])).toThrow('cookie keys must be provided');
  });
});
