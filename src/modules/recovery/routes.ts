import { Router } from '@koa/router';
import multer from '@koa/multer';
import type { Context } from 'koa';
import { AppError } from '../../shared/errors.js';
import { auditContext, csrfToken, formFields, parseBody, seeOther, verifyCsrf, verifyCsrfBeforeBody } from '../../shared/http/forms.js';
import { QueueFullError, Semaphore } from '../../shared/security/semaphore.js';
import { state } from '../../shared/http/middleware.js';
import { render } from '../../shared/http/views.js';
import type { Services } from '../../services.js';
import { consoleAccount, type RequireAccount } from '../../shared/console-account.js';
import { formRefusal, refusalOf } from '../../shared/http/form-errors.js';
import { formValues, validForm } from '../../shared/http/validate.js';
import { AppealDto, AppealLinkDto, AppealStatusDto, RecoveryCertificateDto, RecoveryCodeDto, RecoveryResetDto, UnitPasswordDto } from './dto.js';
import { CERT_TYPES } from '../units/certificates.js';
import { DOCUMENT_LIMITS, displayName, type UploadedFile } from './documents.js';
import type { RecoveryKind } from './service.js';

const KINDS: readonly RecoveryKind[] = ['account', 'password'];
const MASKED = /^1\d{2}\*{4}\d{4}$/;
/** The largest appeal request read at all: five full documents and the form fields. */
const MAX_APPEAL_REQUEST = DOCUMENT_LIMITS.maxFiles * (DOCUMENT_LIMITS.maxBytes + 1) + 64 * 1024;

const upload = multer({
  storage: multer.memoryStorage(),
  defParamCharset: 'utf8',
  limits: { fileSize: DOCUMENT_LIMITS.maxBytes, files: DOCUMENT_LIMITS.maxFiles, fields: 20, fieldSize: 4096, fieldNameSize: 64, parts: 30, headerPairs: 100 },
}).array('documents', DOCUMENT_LIMITS.maxFiles);

/**
 * Uploads processed at once, and waiting (S-35): each holds at most 5 × 5 MB in memory, so memory stays bounded
 * whatever arrives; beyond the queue a request is refused at once with 503 and Retry-After, before its body is read.
 */
export const UPLOAD_LIMITS = { concurrency: 2, queue: 4 } as const;

/** What is checked before an upload's body is read at all (S-35): type, announced size and (for the page) CSRF. */
function admitUpload(ctx: Context, csrf: boolean): void {
  if (!ctx.is('multipart')) throw new AppError('unsupported_media_type');
  if (Number(ctx.get('content-length') || 0) > MAX_APPEAL_REQUEST)
    throw new AppError('appeal_upload_too_large', { params: { max: DOCUMENT_LIMITS.maxFiles, mb: DOCUMENT_LIMITS.maxBytes / 1024 / 1024 }, field: 'documents' });
  if (csrf) verifyCsrfBeforeBody(ctx);
}

/**
 * Parses the multipart appeal form in memory, streamed by busboy against the size and count limits (a file stops
 * at 5 MB, the sixth file is refused); the parser's refusals become clear form errors (nothing is kept).
 */
async function parseUpload(ctx: Context): Promise<void> {
  try {
    await upload(ctx, async () => {});
  } catch (error) {
    const { code, field, filename } = error as { code?: string; field?: string; filename?: string };
    const name = displayName(filename ?? '');
    if (code === 'LIMIT_FILE_SIZE') throw new AppError('appeal_file_too_large', { params: { name, mb: DOCUMENT_LIMITS.maxBytes / 1024 / 1024 }, field: 'documents' });
    if (code === 'LIMIT_FILE_COUNT' || (code === 'LIMIT_UNEXPECTED_FILE' && field === 'documents')) {
      throw new AppError('appeal_too_many_files', { params: { max: DOCUMENT_LIMITS.maxFiles }, field: 'documents' });
    }
    if (typeof code === 'string' && code.startsWith('LIMIT_')) throw new AppError('validation', { field: field === 'documents' ? 'documents' : undefined });
    throw new AppError('bad_request');
  }
}

/** The fields of an appeal, validated by its DTO (the page and the management API alike). */
export type AppealFields = AppealDto;

/** One upload gate per running app, shared by the appeal page and the management API (S-35). */
const gates = new WeakMap<Pick<Services, 'appeals'>, Semaphore>();
function uploadGate(services: Pick<Services, 'appeals'>): Semaphore {
  let gate = gates.get(services);
  if (!gate) {
    gate = new Semaphore(UPLOAD_LIMITS.concurrency, UPLOAD_LIMITS.queue);
    gates.set(services, gate);
  }
  return gate;
}

/**
 * Receives an appeal upload (R-R3, S-35), for the page and the management API alike: type, announced size, CSRF
 * (page only) and the per-IP limit before a byte of the body is read; then at most a few uploads parsed at once,
 * each streamed against the limits; `handle` gets the fields and files. `guard` wraps the checked part (the page
 * turns refusals into its form); a full queue is 503, and a body never read is not drained (the connection closes).
 */
export async function receiveAppeal(
  ctx: Context,
  services: Pick<Services, 'appeals'>,
  options: { csrf: boolean; guard?: (work: () => Promise<void>) => Promise<void> },
  handle: (form: AppealFields, files: UploadedFile[]) => Promise<void>,
): Promise<void> {
  const guard = options.guard ?? ((work) => work());
  let bodyRead = false;
  try {
    await guard(async () => {
      admitUpload(ctx, options.csrf);
      await services.appeals.admit(auditContext(ctx));
      await uploadGate(services).run(async () => {
        bodyRead = true;
        await parseUpload(ctx);
        const form = validForm(ctx, AppealDto);
        const files = ((ctx.request as { files?: unknown }).files ?? []) as UploadedFile[];
        await handle(form, files);
      });
    });
  } catch (error) {
    if (error instanceof QueueFullError) throw new AppError('busy');
    throw error;
  } finally {
    if (!bodyRead) ctx.set('Connection', 'close');
  }
}

/**
 * Public recovery of unit accounts (R-R1–R-R3, C-UI5, guide §9–§10): “账号找回” and “密码找回” through the common
 * contact (“通过常用联系人找回”) or an appeal (申诉), the appeal's status and its single-use link; and the common
 * contact's recovery section in the account centre.
 */
export function recoveryRoutes(services: Pick<Services, 'recovery' | 'appeals' | 'config' | 'units'>, requireAccount: RequireAccount): Router {
  const router = new Router();
  const { recovery, appeals, config } = services;
  const fresh = requireAccount('person', { freshSeconds: config.reauthSeconds, operation: 'person.unit_recovery' });

  const certForm = (form: { certType: string; certNo: string }) => ({ certType: form.certType, certNo: form.certNo });

  function start(ctx: Context, kind: RecoveryKind, view: Record<string, unknown> = {}, status = 200): void {
    render(ctx, 'recovery/start.njk', { csrf: csrfToken(ctx), kind, certTypes: CERT_TYPES, ...view }, status);
  }

  for (const kind of KINDS) {
    router.get(`/recover/unit/${kind}`, (ctx) => start(ctx, kind));

    // Step 1: the paths for this certificate (same page for a real unit and an unknown certificate, S-22).
    router.post(`/recover/unit/${kind}`, parseBody(), verifyCsrf(), async (ctx) => {
      const refused = await formRefusal(ctx, RecoveryCertificateDto, async (input) => {
        const paths = await recovery.paths(input.certType, input.certNo, ctx.ip);
        render(ctx, 'recovery/paths.njk', { csrf: csrfToken(ctx), kind, ...paths });
      });
      if (refused) start(ctx, kind, { ...refused.view, form: certForm(refused.form) }, refused.status);
    });

    // Step 2: “通过常用联系人找回”: a code to the common contact's mobile.
    router.post(`/recover/unit/${kind}/code`, parseBody(), verifyCsrf(), async (ctx) => {
      const refused = await formRefusal(ctx, RecoveryCertificateDto, async (input) => {
        const sent = await recovery.sendCode(kind, input.certType, input.certNo, state(ctx).locale, auditContext(ctx));
        const { certType, certNo } = services.units.certificate(input.certType, input.certNo);
        render(ctx, 'recovery/code.njk', { csrf: csrfToken(ctx), kind, certType, certNo, ...sent });
      });
      if (!refused) return;
      const { view, status, form } = refused;
      // Refused (e.g. too many codes, with the wait): the person stays on this step, not thrown back to step 1.
      const paths = await recovery.pathsOf(form.certType, form.certNo).catch(() => undefined);
      if (paths) render(ctx, 'recovery/paths.njk', { ...view, csrf: csrfToken(ctx), kind, ...paths }, status);
      else start(ctx, kind, { ...view, form: certForm(form) }, status);
    });
  }

  // The masked mobile is shown again only (no input of the use case), and only when it looks like one.
  const codePage = (ctx: Context, kind: RecoveryKind, view: Record<string, unknown>, status: number) => {
    const form = formValues(ctx, RecoveryCodeDto);
    const { maskedMobile } = formFields(ctx, ['maskedMobile'], 512);
    render(
      ctx,
      'recovery/code.njk',
      { ...view, csrf: csrfToken(ctx), kind, ...certForm(form), challenge: form.challenge, maskedMobile: MASKED.test(maskedMobile) ? maskedMobile : '' },
      status,
    );
  };

  // Step 3 of 账号找回: the code reveals the login name (R-R1).
  router.post('/recover/unit/account/verify', parseBody(), verifyCsrf(), async (ctx) => {
    const refused = await formRefusal(ctx, RecoveryCodeDto, async (form) => {
      const unit = await recovery.revealAccount(form.certType, form.certNo, form.challenge, form.code, auditContext(ctx));
      render(ctx, 'recovery/found.njk', { kind: 'account', unit });
    });
    if (refused) codePage(ctx, 'account', refused.view, refused.status);
  });

  // Step 3 of 密码找回: the code and a new password (R-R2); the unit account's sessions end.
  router.post('/recover/unit/password/reset', parseBody(), verifyCsrf(), async (ctx) => {
    const refused = await formRefusal(ctx, RecoveryResetDto, async (form) => {
      const unit = await recovery.resetPassword(form.certType, form.certNo, form.challenge, form.code, form.password, form.passwordConfirm, auditContext(ctx));
      render(ctx, 'recovery/found.njk', { kind: 'password', unit });
    });
    if (refused) codePage(ctx, 'password', refused.view, refused.status);
  });

  // 申诉 (R-R3): the public form with documents.
  function appealForm(ctx: Context, view: Record<string, unknown> = {}, status = 200): void {
    render(
      ctx,
      'recovery/appeal.njk',
      {
        csrf: csrfToken(ctx),
        certTypes: CERT_TYPES,
        emailEnabled: appeals.emailEnabled,
        maxFiles: DOCUMENT_LIMITS.maxFiles,
        maxMb: DOCUMENT_LIMITS.maxBytes / 1024 / 1024,
        ...view,
      },
      status,
    );
  }

  router.get('/recover/unit/appeal', (ctx) => {
    const text = (value: unknown) => (typeof value === 'string' ? value : '');
    const kind = [...KINDS, 'takeover'].find((value) => value === ctx.query.kind) ?? 'account';
    appealForm(ctx, { form: { kind, certType: text(ctx.query.certType), certNo: text(ctx.query.certNo) } });
  });

  router.post('/recover/unit/appeal', async (ctx) => {
    await receiveAppeal(
      ctx,
      services,
      {
        csrf: true,
        guard: async (work) => {
          const refused = await refusalOf(ctx, work);
          if (!refused) return;
          // What the parser read before it stopped (nothing of it is kept), to fill the form in again.
          const body = (ctx.request as { body?: unknown }).body ?? (ctx.req as { body?: unknown }).body;
          const source = body && typeof body === 'object' ? (body as Record<string, unknown>) : {};
          const value = (name: string) => (typeof source[name] === 'string' ? (source[name] as string) : '');
          const form = {
            applicantName: value('applicantName'),
            contact: value('contact'),
            certType: value('certType'),
            certNo: value('certNo'),
            kind: value('kind'),
            applicantAccount: value('applicantAccount'),
          };
          appealForm(ctx, { ...refused.view, form }, refused.status);
        },
      },
      async (form, files) => {
        const reference = await appeals.submit(form, files, state(ctx).locale, auditContext(ctx));
        render(ctx, 'recovery/appeal-submitted.njk', { reference });
      },
    );
  });

  // The applicant follows the appeal with its reference number and the contact given (no enumeration).
  router.get('/recover/unit/appeal/status', (ctx) => render(ctx, 'recovery/appeal-status.njk', { csrf: csrfToken(ctx) }));
  router.post('/recover/unit/appeal/status', parseBody(), verifyCsrf(), async (ctx) => {
    const refused = await formRefusal(ctx, AppealStatusDto, async (input) => {
      const found = await appeals.status(input.reference, input.contact, auditContext(ctx));
      render(ctx, 'recovery/appeal-status.njk', { csrf: csrfToken(ctx), found, form: { reference: found.reference, contact: input.contact } });
    });
    if (!refused) return;
    const { form } = refused;
    render(ctx, 'recovery/appeal-status.njk', { ...refused.view, csrf: csrfToken(ctx), form: { reference: form.reference, contact: form.contact } }, refused.status);
  });

  // The single-use link of an approved appeal: looking does not use it; the form does.
  router.get('/recover/unit/appeal/link', async (ctx) => {
    // Taken whole: a link's token is exactly 43 characters, so anything else (longer too) is refused as an
    // invalid link by the service, never cut to fit.
    const token = typeof ctx.query.token === 'string' ? ctx.query.token : '';
    const refused = await refusalOf(ctx, async () => {
      const link = await appeals.checkLink(token);
      render(ctx, 'recovery/link.njk', { csrf: csrfToken(ctx), token, ...link });
    });
    if (refused) render(ctx, 'recovery/link.njk', { ...refused.view }, refused.status);
  });
  router.post('/recover/unit/appeal/link', parseBody(), verifyCsrf(), async (ctx) => {
    const refused = await formRefusal(ctx, AppealLinkDto, async (input) => {
      const used = await appeals.useLink(input.token, input, auditContext(ctx));
      // A takeover's link sets the unit password, like 密码找回.
      render(ctx, 'recovery/found.njk', { kind: used.kind === 'takeover' ? 'password' : used.kind, unit: used.unit });
    });
    if (!refused) return;
    const { token } = refused.form;
    const link = await appeals.checkLink(token).catch(() => undefined);
    render(ctx, 'recovery/link.njk', { ...refused.view, csrf: csrfToken(ctx), token: link ? token : '', ...link }, refused.status);
  });

  // The account centre: the common contact sees the unit's login name and may set a new unit password (R-R1, R-R2).
  const person = (ctx: Context) => auditContext(ctx, { type: 'person', id: consoleAccount(ctx).id });

  // Looking at the page changes nothing (S-32); revealing a login name is a POST, audited.
  async function contactPage(ctx: Context, view: Record<string, unknown> = {}, status = 200): Promise<void> {
    const units = await recovery.unitsOfContact(consoleAccount(ctx).id);
    render(ctx, 'recovery/contact-units.njk', { csrf: csrfToken(ctx), units, done: ctx.query.done === 'password' ? String(ctx.query.unit ?? '') : undefined, ...view }, status);
  }

  router.get('/account/unit-recovery', fresh, (ctx) => contactPage(ctx));
  router.post('/account/unit-recovery/:unitId/reveal', parseBody(), verifyCsrf(), fresh, async (ctx) => {
    const unit = await recovery.revealToContact(consoleAccount(ctx).id, String(ctx.params.unitId), person(ctx));
    await contactPage(ctx, { revealed: { id: unit.id, loginName: unit.loginName } });
  });
  router.post('/account/unit-recovery/:unitId/password', parseBody(), verifyCsrf(), fresh, async (ctx) => {
    const unitId = String(ctx.params.unitId);
    const refused = await formRefusal(ctx, UnitPasswordDto, async (form) => {
      await recovery.resetByContact(consoleAccount(ctx).id, unitId, form.password, form.passwordConfirm, person(ctx));
      seeOther(ctx, `/account/unit-recovery?done=password&unit=${encodeURIComponent(unitId)}`);
    });
    if (refused) await contactPage(ctx, { ...refused.view, errorUnit: unitId }, refused.status);
  });

  return router;
}
