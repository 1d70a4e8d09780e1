import type { Router } from '@koa/router';
import type { Context } from 'koa';
import { isUuid } from '../../shared/account-id.js';
import { AppError } from '../../shared/errors.js';
import { auditContext, parseBody } from '../../shared/http/forms.js';
import { validBody, validQuery } from '../../shared/http/validate.js';
import type { Services } from '../../services.js';
import type { AuditContext, AuditPageFilter } from '../audit/audit-log.js';
import { InvalidCursorError } from '../audit/audit-log.js';
import type { Person } from '../persons/service.js';
import { maskMobile } from '../persons/rules.js';
import type { Appeal, AppealDocumentInfo } from '../recovery/appeals.js';
import type { AppealState } from '../recovery/appeals.js';
import { sendDocument } from '../recovery/documents.js';
import type { Unit } from '../units/service.js';
import { AppealListQueryDto, AppealStatusDto, AuditQueryDto, IdNumberDto, NoteDto, SearchQueryDto, type UnitAuditQueryDto } from './dto.js';

/** Authorises a request for one account kind and gives its audit context (routes.ts). */
export type AccountAs = (ctx: Context, kind: 'operator') => { context: AuditContext };

export function personJson(person: Person) {
  return {
    id: person.id,
    loginName: person.loginName,
    mobile: maskMobile(person.mobile),
    status: person.status,
    realnameStatus: person.realnameStatus,
    legalName: person.legalName,
    idNumberMasked: person.idNumberMasked,
    realnameSubmittedAt: person.realnameSubmittedAt,
    realnameDecidedAt: person.realnameDecidedAt,
    realnameNote: person.realnameNote,
  };
}

export function appealJson(appeal: Appeal & { state: AppealState; referenceText: string }) {
  return {
    id: appeal.id,
    reference: appeal.referenceText,
    kind: appeal.kind,
    certType: appeal.certType,
    certNo: appeal.certNo,
    unitId: appeal.unitId,
    applicantName: appeal.applicantName,
    contactChannel: appeal.contactChannel,
    contact: appeal.contact,
    status: appeal.state,
    createdAt: appeal.createdAt,
    decidedAt: appeal.decidedAt,
    decidedBy: appeal.decidedBy,
    decisionNote: appeal.decisionNote,
    linkExpiresAt: appeal.linkExpiresAt,
    linkUsedAt: appeal.linkUsedAt,
  };
}

function documentJson(document: AppealDocumentInfo) {
  return { id: document.id, seq: document.seq, contentType: document.contentType, size: document.size, sha256: document.sha256 };
}

/** The time filters and paging of an audit query DTO; 400 naming the field for a bad time or cursor. */
export async function auditPage(services: Pick<Services, 'audit'>, filter: AuditPageFilter, query: UnitAuditQueryDto) {
  const time = (value: string | undefined, field: string) => {
    if (value === undefined) return undefined;
    const at = new Date(value);
    if (Number.isNaN(at.getTime())) throw new AppError('validation', { field });
    return at;
  };
  try {
    return await services.audit.page(
      { ...filter, action: query.action, outcome: query.outcome, since: time(query.since, 'since'), until: time(query.until, 'until') },
      query.limit ? Number(query.limit) : 100,
      query.cursor,
    );
  } catch (error) {
    if (error instanceof InvalidCursorError) throw new AppError('validation', { field: 'cursor' });
    throw error;
  }
}

/**
 * The counter's operations in the management API (operator tokens): persons and their real-name verification
 * (R-P2), appeals and their decision (R-R3), the audit log with filters and cursor paging (R-A1). The operator
 * console does not ask these for a fresh sign-in, so neither does the API.
 */
/** A path id that is a UUID, else 404 (never a database error for a malformed id). */
function idParam(ctx: Context, name = 'id'): string {
  const value: unknown = ctx.params[name];
  if (!isUuid(value)) throw new AppError('not_found');
  return value;
}

export function counterApiRoutes(secured: Router, services: Pick<Services, 'persons' | 'appeals' | 'units' | 'jobs' | 'jobRetry' | 'audit'>, as: AccountAs): void {
  const { persons, appeals, units } = services;
  const personOr404 = async (id: string): Promise<Person> => {
    const person = await persons.byId(id);
    if (!person) throw new AppError('not_found');
    return person;
  };

  secured.get('/counter/persons', async (ctx) => {
    as(ctx, 'operator');
    const { q } = validQuery(ctx, SearchQueryDto);
    ctx.body = { persons: (await persons.search(q.trim())).map(personJson) };
  });
  secured.get('/counter/persons/:id', async (ctx) => {
    as(ctx, 'operator');
    ctx.body = personJson(await personOr404(idParam(ctx)));
  });
  // R-P2: the number typed from the identity card must match what the person submitted.
  secured.post('/counter/persons/:id/realname/verify', async (ctx) => {
    const { context } = as(ctx, 'operator');
    const person = await personOr404(idParam(ctx));
    await persons.verifyRealname(person.id, validBody(ctx, IdNumberDto).idNumber, context);
    ctx.body = personJson(await personOr404(person.id));
  });
  secured.post('/counter/persons/:id/realname/reject', async (ctx) => {
    const { context } = as(ctx, 'operator');
    const person = await personOr404(idParam(ctx));
    await persons.rejectRealname(person.id, validBody(ctx, NoteDto).note, context);
    ctx.body = personJson(await personOr404(person.id));
  });

  secured.get('/counter/appeals', async (ctx) => {
    as(ctx, 'operator');
    const query = validQuery(ctx, AppealListQueryDto);
    if (query.unitId) {
      const wanted = query.status ?? 'all';
      const list = await appeals.listForUnit(query.unitId);
      ctx.body = { appeals: list.filter((appeal) => wanted === 'all' || appeal.status === wanted).map(appealJson) };
      return;
    }
    const status = query.status ?? 'pending';
    ctx.body = { appeals: (await appeals.list(status === 'all' ? undefined : status)).map(appealJson) };
  });
  secured.get('/counter/appeals/:id', async (ctx) => {
    as(ctx, 'operator');
    const found = await appeals.get(idParam(ctx));
    ctx.body = {
      ...appealJson({ ...found.appeal, state: found.state, referenceText: found.referenceText }),
      unit: found.unit ? unitSummary(found.unit) : null,
      documents: found.documents.map(documentJson),
    };
  });
  for (const decision of ['approve', 'reject'] as const) {
    secured.post(`/counter/appeals/:id/${decision}`, async (ctx) => {
      const { context } = as(ctx, 'operator');
      const id = idParam(ctx);
      await appeals[decision](id, validBody(ctx, NoteDto).note, context);
      const found = await appeals.get(id);
      ctx.body = appealJson({ ...found.appeal, state: found.state, referenceText: found.referenceText });
    });
  }
  // S-35: an attachment with the sniffed type, never inline.
  secured.get('/counter/appeals/:id/documents/:documentId', async (ctx) => {
    const { context } = as(ctx, 'operator');
    const document = await appeals.document(idParam(ctx), idParam(ctx, 'documentId'), context);
    sendDocument(ctx, document);
  });
  secured.get('/counter/units/:id/appeals', async (ctx) => {
    as(ctx, 'operator');
    const unit = await units.byId(idParam(ctx));
    if (!unit) throw new AppError('not_found');
    ctx.body = { appeals: (await appeals.listForUnit(unit.id)).map(appealJson) };
  });

  // S-56: the jobs parked after their last attempt (what /operator/jobs shows, never a message text) and their retry.
  secured.get('/counter/jobs/failed', async (ctx) => {
    as(ctx, 'operator');
    ctx.set('Cache-Control', 'no-store');
    ctx.body = {
      counts: await services.jobs.counts(),
      jobs: (await services.jobs.listFailed()).map((job) => ({
        id: job.id,
        kind: job.kind,
        summary: job.summary,
        attempts: job.attempts,
        lastError: job.lastError,
        createdAt: job.createdAt.toISOString(),
        failedAt: job.finishedAt?.toISOString() ?? null,
      })),
    };
  });
  secured.post('/counter/jobs/:id/retry', async (ctx) => {
    const { context } = as(ctx, 'operator');
    const id = idParam(ctx);
    await services.jobRetry.retry(id, context);
    ctx.status = 204;
  });

  secured.get('/counter/audit', async (ctx) => {
    as(ctx, 'operator');
    const query = validQuery(ctx, AuditQueryDto);
    ctx.body = await auditPage(services, { actorType: query.actorType, actorId: query.actorId, targetId: query.targetId, actingUnitId: query.unitId }, query);
  });
}

function unitSummary(unit: Unit) {
  return { id: unit.id, name: unit.name, certType: unit.certType, certNo: unit.certNo, verified: unit.verified, status: unit.status };
}

/**
 * The applicant's look-up of an appeal (R-R3), the one operation without a token: the applicant has no account;
 * the reference and the contact given when filing are the credential, failures throttled per IP, and an unknown
 * reference and a wrong contact answer alike (S-22). It shows what the status page shows.
 */
export function appealStatusRoute(router: Router, services: Pick<Services, 'appeals'>): void {
  router.post('/appeals/status', parseBody(), async (ctx) => {
    const body = validBody(ctx, AppealStatusDto);
    const found = await services.appeals.status(body.reference, body.contact, auditContext(ctx));
    ctx.set('Cache-Control', 'no-store');
    ctx.body = {
      reference: found.reference,
      kind: found.appeal.kind,
      status: found.state,
      createdAt: found.appeal.createdAt,
      decidedAt: found.appeal.decidedAt,
      ...(found.state === 'rejected' ? { decisionNote: found.appeal.decisionNote } : {}),
    };
  });
}
