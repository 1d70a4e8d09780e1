import type { Context, Middleware } from 'koa';
import type { AccountKind } from './account-id.js';
import { AppError } from './errors.js';
import type { SensitiveOperation } from './security/sensitive.js';

/** The signed-in account of a console request, from the provider's SSO session. */
export interface ConsoleAccount {
  kind: AccountKind;
  id: string;
  sessionUid: string;
  /** Seconds since the epoch of the last password sign-in. */
  loginTs: number;
}

/** The guard of a console route: the account of `kind` signed in (and recently enough, for sensitive operations). */
export type RequireAccount = (kind: AccountKind, options?: { freshSeconds?: number; operation?: SensitiveOperation }) => Middleware;

/** The signed-in account of the SSO session, if any (pages that also serve visitors). */
export type CurrentAccount = (ctx: Context) => Promise<ConsoleAccount | undefined>;

/** The account the route's `RequireAccount` guard put on the request. */
export function consoleAccount(ctx: Context): ConsoleAccount {
  const account = (ctx.state as { account?: ConsoleAccount }).account;
  if (!account) throw new AppError('forbidden');
  return account;
}
