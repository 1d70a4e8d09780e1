import { Router } from '@koa/router';
import type { Context } from 'koa';
import { auditContext, csrfToken, parseBody, seeOther, verifyCsrf } from '../../shared/http/forms.js';
import { AppealDecisionDto } from './dto.js';
import { render } from '../../shared/http/views.js';
import type { Services } from '../../services.js';
import { consoleAccount, type RequireAccount } from '../../shared/console-account.js';
import { formRefusal } from '../../shared/http/form-errors.js';
import { APPEAL_LINK_TTL_HOURS } from './appeals.js';
import { PREVIEW_TYPES, sendDocument, sendPdfPage, sendPreview } from './documents.js';
import { PdfPreviewer } from './pdf-preview.js';
import { AppError } from '../../shared/errors.js';
import { APPEAL_STATUSES } from './appeal-lifecycle.js';
import { frameIdentity, type IdentityServices } from '../site/identity.js';
import { state } from '../../shared/http/middleware.js';
import { describeEntries, type DescribeLookups } from '../audit/describe.js';
import { translate } from '../../shared/i18n/index.js';

/**
 * The counter console's appeals (R-R3, PRODUCT.md §7): pending appeals, their documents (downloaded as attachments
 * with the sniffed type, S-35; images also shown inline, sandboxed, and PDFs as page images rendered on the server),
 * approval or rejection with a note; every step audited (R-A1).
 */
export function appealOperatorRoutes(services: Pick<Services, 'appeals' | 'audit'> & IdentityServices & DescribeLookups, requireAccount: RequireAccount): Router {
  const router = new Router({ prefix: '/operator/appeals' });
  const { appeals } = services;
  router.use(requireAccount('operator'));
  router.use(frameIdentity(services));

  const actor = (ctx: Context) => auditContext(ctx, { type: 'operator', id: consoleAccount(ctx).id });
  // One PDF renderer (a worker thread, one job at a time) per instance (issue 14).
  const previewer = new PdfPreviewer();
  const shownPages = previewer.limits.pages;

  router.get('/', async (ctx) => {
    const wanted = ctx.query.status === 'all' ? 'all' : (APPEAL_STATUSES.find((status) => status === ctx.query.status) ?? 'pending');
    render(ctx, 'operator/appeals.njk', { appeals: await appeals.list(wanted === 'all' ? undefined : wanted), status: wanted, statuses: APPEAL_STATUSES });
  });

  async function appealPage(ctx: Context, view: Record<string, unknown> = {}, status = 200): Promise<void> {
    const found = await appeals.get(String(ctx.params.id));
    const history = await describeEntries(services, await services.audit.list({ targetId: found.appeal.id, limit: 50 }), state(ctx).locale, true);
    // Inline previews for what is stored as PDF, PNG or JPEG (the preview routes sniff the bytes again); a PDF's
    // page count lays out its page images (counted by the worker, remembered for a few minutes).
    const documents = await Promise.all(
      found.documents.map(async (document) => {
        const preview = PREVIEW_TYPES[document.contentType];
        if (preview !== 'pdf') return { ...document, preview };
        const count = await previewer.pageCount({ id: document.id, sha256: document.sha256, content: () => appeals.documentBytes(found.appeal.id, document.id) });
        const pages = 'pages' in count ? Array.from({ length: Math.min(count.pages, shownPages) }, (_, index) => index + 1) : [];
        return { ...document, preview, pages, pageCount: 'pages' in count ? count.pages : 0, unavailable: 'unavailable' in count ? count.unavailable : undefined };
      }),
    );
    render(
      ctx,
      'operator/appeal.njk',
      {
        csrf: csrfToken(ctx),
        ...found,
        documents,
        shownPages,
        history,
        linkHours: APPEAL_LINK_TTL_HOURS,
        done: ctx.query.done === 'approve' || ctx.query.done === 'reject' ? ctx.query.done : undefined,
        ...view,
      },
      status,
    );
  }

  router.get('/:id', (ctx) => appealPage(ctx));

  for (const decision of ['approve', 'reject'] as const) {
    // The decision is confirmed first: the applicant, the certificate, the unit, the note and what follows.
    router.get(`/:id/${decision}`, async (ctx) => {
      const found = await appeals.get(String(ctx.params.id));
      const locale = state(ctx).locale;
      // Carried as typed to the POST, whose DTO refuses a note or name over its limit (never cut here).
      const note = typeof ctx.query.note === 'string' ? ctx.query.note : '';
      // A takeover's approval may correct the unit name (shown, and carried to the POST).
      const unitName = decision === 'approve' && found.appeal.kind === 'takeover' && typeof ctx.query.unitName === 'string' ? ctx.query.unitName : '';
      const t = (key: Parameters<typeof translate>[1], params?: Record<string, string | number>) => translate(locale, key, params);
      render(ctx, 'confirm.njk', {
        frame: 'operator/layout.njk',
        csrf: csrfToken(ctx),
        action: `/operator/appeals/${found.appeal.id}/${decision}`,
        cancel: `/operator/appeals/${found.appeal.id}`,
        title: t(decision === 'approve' ? 'confirm.appeal_approve_title' : 'confirm.appeal_reject_title'),
        submit: t(decision === 'approve' ? 'operator.appeal_approve' : 'operator.appeal_reject'),
        body:
          decision === 'approve'
            ? t(found.appeal.kind === 'takeover' ? 'confirm.appeal_takeover_body' : 'confirm.appeal_approve_body', {
                applicant: found.appeal.applicantName,
                contact: found.appeal.contact,
                hours: APPEAL_LINK_TTL_HOURS,
              })
            : t('confirm.appeal_reject_body', { applicant: found.appeal.applicantName, contact: found.appeal.contact }),
        facts: [
          { label: t('recovery.reference'), value: found.referenceText },
          { label: t('recovery.kind'), value: t(`recovery.kind.${found.appeal.kind}`) },
          { label: t('recovery.certificate'), value: `${t(`unit.cert_type.${found.appeal.certType}`)} ${found.appeal.certNo}` },
          { label: t('operator.appeal_unit'), value: found.unit?.name ?? t('operator.appeal_no_unit') },
          { label: t('operator.appeal_applicant'), value: found.appeal.applicantName },
          ...(found.applicantAccount ? [{ label: t('recovery.appeal_applicant_account'), value: found.applicantAccount }] : []),
          ...(note ? [{ label: t('recovery.note'), value: note }] : []),
          ...(unitName && unitName.trim() !== found.unit?.name ? [{ label: t('operator.appeal_unit_name'), value: unitName }] : []),
        ],
        hidden: unitName ? { note, unitName } : { note },
      });
    });

    router.post(`/:id/${decision}`, parseBody(), verifyCsrf(), async (ctx) => {
      const refused = await formRefusal(ctx, AppealDecisionDto, async (input) => {
        if (decision === 'approve') await appeals.approve(String(ctx.params.id), input.note, actor(ctx), input.unitName);
        else await appeals.reject(String(ctx.params.id), input.note, actor(ctx));
        seeOther(ctx, `/operator/appeals/${ctx.params.id}?done=${decision}`);
      });
      if (refused) await appealPage(ctx, { ...refused.view, note: refused.form.note, decision }, refused.status);
    });
  }

  // S-35: a download, never inline: the sniffed type, nosniff, a sandboxing CSP and a generated file name.
  router.get('/:id/documents/:documentId', async (ctx) => {
    const document = await appeals.document(String(ctx.params.id), String(ctx.params.documentId), actor(ctx));
    sendDocument(ctx, document);
  });

  // Issue 14: the same image inline, for the appeal page's <img> (PNG, JPEG only).
  router.get('/:id/documents/:documentId/preview', async (ctx) => {
    const document = await appeals.document(String(ctx.params.id), String(ctx.params.documentId), actor(ctx), {});
    await sendPreview(ctx, document);
  });

  // Issue 14: one page of a PDF as a PNG rendered on the server; each request is audited with its page number.
  router.get('/:id/documents/:documentId/pages/:page', async (ctx) => {
    const page = /^[1-9][0-9]{0,5}$/.test(String(ctx.params.page)) ? Number(ctx.params.page) : 0;
    if (page === 0) throw new AppError('appeal_preview_page_invalid', { params: { max: shownPages } });
    if (page > shownPages) throw new AppError('appeal_preview_page_beyond', { params: { max: shownPages } });
    const document = await appeals.document(String(ctx.params.id), String(ctx.params.documentId), actor(ctx), { page });
    await sendPdfPage(ctx, previewer, document, page);
  });

  return router;
}
