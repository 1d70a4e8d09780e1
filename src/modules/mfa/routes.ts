import fs from 'node:fs';
import path from 'node:path';
import { Router } from '@koa/router';
import type { Context } from 'koa';
import QRCode from 'qrcode';
import type { RegistrationResponseJSON } from '@simplewebauthn/server';
import { PROJECT_ROOT } from '../../shared/paths.js';
import { parseWebAuthnResponse } from './passkeys.js';
import { auditContext, csrfToken, parseBody, seeOther, verifyCsrf } from '../../shared/http/forms.js';
import { PasskeyResponseDto, TotpCodeDto } from './dto.js';
import { render } from '../../shared/http/views.js';
import type { Services } from '../../services.js';
import type { RequireAccount } from '../../shared/console-account.js';
import { consoleAccount } from '../../shared/console-account.js';
import { assertFound, formRefusal, visibleField } from '../../shared/http/form-errors.js';
import { frameIdentity, type IdentityServices } from '../site/identity.js';

/** `ABCD EFGH …`: the key as a person types it into an authenticator app. */
export function groupedSecret(secret: string): string {
  return secret.replace(/(.{4})/g, '$1 ').trim();
}

/** The QR code of an otpauth:// URI, as a data: URL (allowed by the CSP's img-src). */
export function qrOf(uri: string): Promise<string> {
  return QRCode.toDataURL(uri, { margin: 1, width: 220 });
}

/**
 * 登录安全 in the account centre (issue #18): the person's second factors. Viewing is open to the signed-in person;
 * enrolling, removing and new recovery codes need a fresh sign-in (S-34, `person.second_factor`).
 */
export function secondFactorRoutes(services: Pick<Services, 'mfa' | 'persons' | 'config' | 'passkeys'> & IdentityServices, requireAccount: RequireAccount): Router {
  const router = new Router({ prefix: '/account/security' });
  const { mfa, persons, config, passkeys } = services;
  const fresh = requireAccount('person', { freshSeconds: config.reauthSeconds, operation: 'person.second_factor' });
  router.use(requireAccount('person'));
  router.use(frameIdentity(services));
  const actor = (ctx: Context) => auditContext(ctx, { type: 'person', id: consoleAccount(ctx).id });

  router.get('/', async (ctx) => {
    const status = await mfa.status(consoleAccount(ctx).id);
    render(ctx, 'account/security.njk', {
      csrf: csrfToken(ctx),
      status,
      passkeys: await passkeys.list(consoleAccount(ctx).id),
      done: typeof ctx.query.done === 'string' ? ctx.query.done : undefined,
    });
  });

  async function enrolPage(ctx: Context, view: Record<string, unknown> = {}, status = 200): Promise<void> {
    const person = assertFound(await persons.byId(consoleAccount(ctx).id));
    const enrolment = await mfa.startTotp(person.id, person.loginName);
    render(ctx, 'account/totp-enrol.njk', { csrf: csrfToken(ctx), qr: await qrOf(enrolment.uri), secret: groupedSecret(enrolment.secret), ...view }, status);
  }

  router.get('/totp', fresh, async (ctx) => {
    if ((await mfa.status(consoleAccount(ctx).id)).totp) {
      seeOther(ctx, '/account/security');
      return;
    }
    await enrolPage(ctx);
  });

  router.post('/totp', parseBody(), verifyCsrf(), fresh, async (ctx) => {
    const refused = await formRefusal(ctx, TotpCodeDto, async (input) => {
      const codes = await mfa.confirmTotp(consoleAccount(ctx).id, input.totp, actor(ctx));
      render(ctx, 'account/recovery-codes.njk', { codes, done: 'totp_enrolled' });
    });
    if (!refused) return;
    // Already on, e.g. a second copy of this confirmation that lost to the first (a double click): the security
    // page says so and offers new recovery codes, instead of "wrong code" over codes the first copy showed.
    if ((await mfa.status(consoleAccount(ctx).id)).totp) seeOther(ctx, '/account/security?done=totp_already_enrolled');
    else await enrolPage(ctx, { ...refused.view, form: refused.form }, refused.status);
  });

  router.post('/totp/remove', parseBody(), verifyCsrf(), fresh, async (ctx) => {
    await mfa.removeTotp(consoleAccount(ctx).id, actor(ctx));
    seeOther(ctx, '/account/security?done=totp_removed');
  });

  router.post('/recovery-codes', parseBody(), verifyCsrf(), fresh, async (ctx) => {
    const codes = await mfa.regenerateRecoveryCodes(consoleAccount(ctx).id, actor(ctx));
    render(ctx, 'account/recovery-codes.njk', { codes });
  });

  async function passkeyPage(ctx: Context, view: Record<string, unknown> = {}, status = 200): Promise<void> {
    const person = assertFound(await persons.byId(consoleAccount(ctx).id));
    render(ctx, 'account/passkey-add.njk', { csrf: csrfToken(ctx), options: await passkeys.registrationOptions(person), ...view }, status);
  }

  router.get('/passkey', fresh, (ctx) => passkeyPage(ctx));

  router.post('/passkey', parseBody(), verifyCsrf(), fresh, async (ctx) => {
    const refused = await formRefusal(ctx, PasskeyResponseDto, async ({ response }) => {
      const codes = await passkeys.register(consoleAccount(ctx).id, parseWebAuthnResponse<RegistrationResponseJSON>(response), actor(ctx));
      // The first second factor: its recovery codes, shown once (as after a TOTP enrolment).
      if (codes) render(ctx, 'account/recovery-codes.njk', { codes, done: 'passkey_added' });
      else seeOther(ctx, '/account/security?done=passkey_added');
    });
    if (refused) await passkeyPage(ctx, { ...refused.view, errorField: visibleField(refused.view.errorField, []) }, refused.status);
  });

  router.post('/passkeys/:id/remove', parseBody(), verifyCsrf(), fresh, async (ctx) => {
    await passkeys.remove(consoleAccount(ctx).id, String(ctx.params.id), actor(ctx));
    seeOther(ctx, '/account/security?done=passkey_removed');
  });

  return router;
}

/** The browser half of WebAuthn, @simplewebauthn/browser's bundle, served as a static script (CSP script-src 'self'). */
export function webAuthnScriptRoutes(): Router {
  const router = new Router();
  const file = path.join(PROJECT_ROOT, 'node_modules', '@simplewebauthn', 'browser', 'dist', 'bundle', 'index.umd.min.js');
  let script: Buffer | undefined;
  router.get('/webauthn/browser.js', (ctx) => {
    script ??= fs.readFileSync(file);
    ctx.type = 'application/javascript';
    ctx.set('Cache-Control', 'public, max-age=3600');
    ctx.body = script;
  });
  return router;
}
