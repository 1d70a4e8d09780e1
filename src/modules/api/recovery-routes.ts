import type { Router } from '@koa/router';
import { auditContext, parseBody } from '../../shared/http/forms.js';
import { state } from '../../shared/http/middleware.js';
import { validBody } from '../../shared/http/validate.js';
import type { Services } from '../../services.js';
import { receiveAppeal } from '../recovery/routes.js';
import type { RecoveryKind } from '../recovery/service.js';
import { RecoveryCertificateDto, RecoveryCodeDto, RecoveryResetDto } from './dto.js';

const KINDS: readonly RecoveryKind[] = ['account', 'password'];

/**
 * 账号找回 / 密码找回 through the common contact over JSON (R-R1, R-R2), without a token: the same RecoveryService
 * calls as the pages (src/modules/recovery/routes.ts), so the same per-IP and per-certificate limits (S-21, S-26),
 * the same decoys and stand-in masked numbers, and the same answer for an unknown certificate as for a real one
 * until a code is proven (S-22, S-29). No cookie is read or set here, so there is no CSRF to defend against.
 */
export function recoveryApiRoutes(router: Router, services: Pick<Services, 'recovery' | 'units' | 'appeals'>): void {
  const { recovery, units } = services;

  for (const kind of KINDS) {
    // Step 1: the paths for the certificate (masked mobile, whether 申诉 is offered).
    router.post(`/recovery/${kind}/paths`, parseBody(), async (ctx) => {
      const body = validBody(ctx, RecoveryCertificateDto);
      const paths = await recovery.paths(body.certType, body.certNo, ctx.ip);
      ctx.set('Cache-Control', 'no-store');
      ctx.body = { certType: paths.certType, certNo: paths.certNo, maskedMobile: paths.maskedMobile, appeal: paths.appeal };
    });

    // Step 2: a code to the common contact's mobile (for a decoy: the same answer, nothing sent).
    router.post(`/recovery/${kind}/code`, parseBody(), async (ctx) => {
      const body = validBody(ctx, RecoveryCertificateDto);
      const sent = await recovery.sendCode(kind, body.certType, body.certNo, state(ctx).locale, auditContext(ctx));
      const { certType, certNo } = units.certificate(body.certType, body.certNo);
      ctx.status = 201;
      ctx.set('Cache-Control', 'no-store');
      ctx.body = { certType, certNo, challenge: sent.challenge, maskedMobile: sent.maskedMobile };
    });
  }

  // Step 3 of 账号找回: the code reveals the login name.
  router.post('/recovery/account/verify', parseBody(), async (ctx) => {
    const body = validBody(ctx, RecoveryCodeDto);
    const unit = await recovery.revealAccount(body.certType, body.certNo, body.challenge, body.code, auditContext(ctx));
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { name: unit.name, loginName: unit.loginName };
  });

  // Step 3 of 密码找回: the code and a new password; the unit account's sessions end.
  router.post('/recovery/password/reset', parseBody(), async (ctx) => {
    const body = validBody(ctx, RecoveryResetDto);
    const unit = await recovery.resetPassword(body.certType, body.certNo, body.challenge, body.code, body.password, body.passwordConfirm, auditContext(ctx));
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { name: unit.name, loginName: unit.loginName };
  });

  // 申诉 (R-R3): multipart/form-data with the page's fields and up to 5 `documents`, through the page's own upload
  // path (limits before the body is read, at most 2 parsed at once, the same AppealService.submit). The request
  // carries no cookie and no session, so CSRF does not apply: there is nothing ambient a foreign page could ride on.
  router.post('/appeals', async (ctx) => {
    await receiveAppeal(ctx, services, { csrf: false }, async (form, files) => {
      const reference = await services.appeals.submit(form, files, state(ctx).locale, auditContext(ctx));
      ctx.status = 201;
      ctx.set('Cache-Control', 'no-store');
      ctx.body = { reference };
    });
  });
}
