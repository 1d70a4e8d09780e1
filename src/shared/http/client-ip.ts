import net from 'node:net';
import type { Context, Middleware, Next } from 'koa';

/** Which reverse proxies are trusted (TRUST_PROXY): none, a number of hops, or the proxies' addresses. */
export type TrustProxy = false | { hops: number } | { cidrs: string[] };

function normalise(address: string): string {
  const trimmed = address.trim().replace(/^\[|\]$/g, '');
  return trimmed.startsWith('::ffff:') && net.isIPv4(trimmed.slice(7)) ? trimmed.slice(7) : trimmed;
}

function blockList(cidrs: readonly string[]): net.BlockList {
  const list = new net.BlockList();
  for (const cidr of cidrs) {
    const [address = '', bits] = cidr.split('/');
    const family = net.isIPv6(address) ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(address, family);
    else list.addSubnet(address, Number(bits), family);
  }
  return list;
}

/** Parses one CIDR or address; undefined when it is not one. */
export function validCidr(text: string): boolean {
  const [address = '', bits, extra] = text.split('/');
  if (extra !== undefined) return false;
  const family = net.isIP(address);
  if (!family) return false;
  if (bits === undefined) return true;
  if (!/^\d{1,3}$/.test(bits)) return false;
  return Number(bits) <= (family === 4 ? 32 : 128);
}

/**
 * The client address as the nearest trusted proxy saw it (S-36). The chain is the `X-Forwarded-For` entries followed
 * by the peer of the socket; each trusted proxy appends the address it received the request from. With N hops the
 * client is the entry N places left of the peer; with CIDRs it is the rightmost address that is not a trusted proxy.
 * Entries further left were written by the client and are never used.
 */
export function clientIp(trust: TrustProxy, peer: string, forwardedFor: string | undefined, cidrs?: net.BlockList): string {
  const socket = normalise(peer);
  if (!trust) return socket;
  const forwarded = (forwardedFor ?? '')
    .split(',')
    .map(normalise)
    .filter((entry) => entry !== '');
  const chain = [...forwarded, socket];
  if ('hops' in trust) return chain[Math.max(0, chain.length - 1 - trust.hops)] ?? socket;
  const list = cidrs ?? blockList(trust.cidrs);
  const trusted = (address: string) => net.isIP(address) !== 0 && list.check(address, net.isIPv6(address) ? 'ipv6' : 'ipv4');
  for (let index = chain.length - 1; index >= 0; index -= 1) {
    const address = chain[index]!;
    if (!trusted(address)) return net.isIP(address) ? address : socket;
  }
  return chain[0] ?? socket;
}

/**
 * Sets `ctx.ip` (used for throttling and the audit log) from the trusted chain, and drops the `X-Forwarded-*` headers
 * of a request that did not come through a trusted proxy, so that they cannot make the request look secure.
 */
export function clientAddress(trust: TrustProxy): Middleware {
  const cidrs = trust && 'cidrs' in trust ? blockList(trust.cidrs) : undefined;
  return async (ctx: Context, next: Next) => {
    const peer = ctx.req.socket.remoteAddress ?? '';
    if (cidrs && !cidrs.check(normalise(peer), net.isIPv6(normalise(peer)) ? 'ipv6' : 'ipv4')) {
      for (const header of ['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host']) delete ctx.req.headers[header];
    }
    ctx.request.ip = clientIp(trust, peer, ctx.get('x-forwarded-for') || undefined, cidrs);
    await next();
  };
}
