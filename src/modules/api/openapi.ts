import { validationMetadatasToSchemas } from 'class-validator-jsonschema';
import { CERT_TYPES } from '../units/certificates.js';
import { APPEAL_KINDS, AppealDto } from '../recovery/dto.js';
import { DOCUMENT_LIMITS } from '../recovery/documents.js';
import {
  AppealListQueryDto,
  AppealStatusDto,
  AuditQueryDto,
  BindDto,
  BindingsPageQueryDto,
  CodeDto,
  IdNumberDto,
  NoteDto,
  RecoveryCertificateDto,
  RecoveryCodeDto,
  RecoveryResetDto,
  ScopesDto,
  SearchQueryDto,
  UnitAuditQueryDto,
  UnitNameDto,
  UnitRegistrationDto,
} from './dto.js';

type Schema = Record<string, unknown>;
type Dto = abstract new () => object;

/**
 * The request side of the document is generated from the DTOs the routes validate with, by
 * class-validator-jsonschema (it reads the class-validator metadata, so a limit is declared once, in the DTO):
 * each JSON body by its component name, each query by its path.
 */
export const REQUEST_BODIES = {
  UnitName: UnitNameDto,
  UnitRegistration: UnitRegistrationDto,
  Bind: BindDto,
  Scopes: ScopesDto,
  Code: CodeDto,
  IdNumber: IdNumberDto,
  Note: NoteDto,
  AppealLookup: AppealStatusDto,
  RecoveryCertificate: RecoveryCertificateDto,
  RecoveryCode: RecoveryCodeDto,
  RecoveryReset: RecoveryResetDto,
} satisfies Record<string, Dto>;

export const QUERIES = {
  '/unit/audit': UnitAuditQueryDto,
  '/unit/bindings': BindingsPageQueryDto,
  '/counter/audit': AuditQueryDto,
  '/counter/appeals': AppealListQueryDto,
  '/counter/units': SearchQueryDto,
  '/counter/persons': SearchQueryDto,
} satisfies Record<string, Dto>;

/** The JSON schema of a DTO as validated: its constraints, its required fields, no other property. */
export function dtoSchema(dto: Dto): Schema {
  const schema = validationMetadatasToSchemas()[dto.name];
  if (!schema) throw new Error(`no validation metadata for ${dto.name}`);
  return { ...schema, additionalProperties: false } as Schema;
}

/** The query parameters of a query DTO (each a string in the query; `required` as the DTO says). */
function queryParameters(dto: Dto, descriptions: Record<string, string> = {}): Schema[] {
  const schema = dtoSchema(dto) as { properties?: Record<string, Schema>; required?: string[] };
  return Object.entries(schema.properties ?? {}).map(([name, property]) => ({
    name,
    in: 'query',
    ...(schema.required?.includes(name) ? { required: true } : {}),
    ...(descriptions[name] ? { description: descriptions[name] } : {}),
    schema: property,
  }));
}

const AUDIT_DESCRIPTIONS = {
  since: 'entries at or after this time (ISO 8601)',
  until: 'entries before this time (ISO 8601)',
  limit: '1–500, default 100',
  cursor: 'the nextCursor of the previous page',
  unitId: 'the acting unit',
};

/** The OpenAPI 3.1 description of the management API (served at /api/v1/openapi.json). */
export function openApiDocument(issuer: string, businessScopes: string[]): Record<string, unknown> {
  const json = (schema: Record<string, unknown>) => ({ content: { 'application/json': { schema } } });
  const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
  const error = { description: 'Error', ...json(ref('Error')) };
  const errors = { 400: error, 401: error, 403: error, 404: error, 409: error, 429: error };
  const id = { name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } };
  const op = (summary: string, tag: string, extra: Record<string, unknown> = {}) => ({ summary, tags: [tag], responses: { ...errors }, ...extra });
  const ok = (schema: Record<string, unknown>, status = '200') => ({ [status]: { description: 'OK', ...json(schema) } });
  const noContent = { 204: { description: 'Done' } };
  /** An object holding one list of a schema, e.g. `{ units: [Unit] }`. */
  const listOf = (key: string, item: string) => ({ type: 'object', properties: { [key]: { type: 'array', items: ref(item) } } });
  const body = (schema: Record<string, unknown>) => ({ requestBody: { required: true, ...json(schema) } });
  const withResponses = (operation: ReturnType<typeof op>, responses: Record<string, unknown>) => ({ ...operation, responses: { ...responses, ...operation.responses } });
  const fresh = 'Requires an access token obtained from a sign-in within the re-authentication window (S-34); otherwise 401 reauth_required.';

  return {
    openapi: '3.1.0',
    info: {
      title: '统一身份认证平台 management API',
      version: '1.0.0',
      description:
        'Unit, binding, counter, appeal and audit operations. Authorise with an access token of this provider carrying the `manage` scope, obtained by a client registered in clients.json with `account_kind` unit, person or operator.',
    },
    servers: [{ url: `${issuer}/api/v1` }],
    security: [{ oauth2: ['manage'] }],
    tags: [
      { name: 'unit', description: 'The signed-in unit account (unit console)' },
      { name: 'person', description: 'The signed-in person (account centre)' },
      { name: 'counter', description: 'Operators at the counter' },
      { name: 'appeal', description: 'Applicants of an appeal (no account)' },
      { name: 'recovery', description: 'Unit account and password recovery through the common contact (no account)' },
    ],
    paths: {
      '/unit': {
        get: withResponses(op('The unit, with its name history', 'unit'), ok(ref('UnitWithHistory'))),
        patch: withResponses(op('Change the name of an unverified unit (R-U4)', 'unit', body(ref('UnitName'))), ok(ref('Unit'))),
      },
      '/unit/name-change': {
        post: withResponses(op('Change the name of a verified unit; the old name is kept (R-U4)', 'unit', { description: fresh, ...body(ref('UnitName')) }), ok(ref('Unit'))),
      },
      '/unit/bindings': {
        get: withResponses(
          op('子账户信息: the bindings of the unit, the common contact first, a page at a time', 'unit', { parameters: queryParameters(BindingsPageQueryDto) }),
          ok({
            type: 'object',
            properties: { bindings: { type: 'array', items: ref('Binding') }, page: { type: 'integer' }, limit: { type: 'integer' }, hasMore: { type: 'boolean' } },
          }),
        ),
        post: withResponses(op('Bind a real-name verified person; pending until accepted (R-B1)', 'unit', { description: fresh, ...body(ref('Bind')) }), ok(ref('Binding'), '201')),
      },
      '/unit/bindings/{id}/unbind': {
        post: withResponses(op('取消绑定 (R-B4); refused for the common contact (R-B5)', 'unit', { description: fresh, parameters: [id] }), noContent),
      },
      '/unit/bindings/{id}/scopes': {
        put: withResponses(op('Change permissions and validity of a handler (R-B3)', 'unit', { description: fresh, parameters: [id], ...body(ref('Scopes')) }), noContent),
      },
      '/unit/bindings/{id}/contact': {
        post: withResponses(
          op('Make an active handler the common contact (R-B5); changes the role only, both bindings keep their permissions', 'unit', { description: fresh, parameters: [id] }),
          noContent,
        ),
      },
      '/unit/verification': { post: withResponses(op('Verify the unit with the counter authorisation code (R-U5)', 'unit', body(ref('Code'))), ok(ref('Unit'))) },
      '/unit/audit': {
        get: withResponses(
          op('The unit audit log (R-A1), newest first, with cursor paging', 'unit', { parameters: queryParameters(UnitAuditQueryDto, AUDIT_DESCRIPTIONS) }),
          ok(ref('AuditPage')),
        ),
      },
      '/me/bindings': { get: withResponses(op('My pending and active bindings', 'person'), ok(listOf('bindings', 'Binding'))) },
      '/me/bindings/{id}/accept': { post: withResponses(op('Accept a pending binding (guide §3)', 'person', { parameters: [id] }), noContent) },
      '/me/bindings/{id}/decline': { post: withResponses(op('Decline a pending binding', 'person', { parameters: [id] }), noContent) },
      '/me/units': {
        post: withResponses(op('Register a unit; the person becomes its common contact (R-U1, R-U2)', 'person', body(ref('UnitRegistration'))), ok(ref('Unit'), '201')),
      },
      '/counter/units': {
        get: withResponses(op('Find units by certificate number, login name or name', 'counter', { parameters: queryParameters(SearchQueryDto) }), ok(listOf('units', 'Unit'))),
      },
      '/counter/units/{id}/verification-codes': {
        get: withResponses(op('Issued codes and their state', 'counter', { parameters: [id] }), ok(listOf('codes', 'IssuedCode'))),
        post: withResponses(
          op('Issue an authorisation code (shown once; invalidates earlier unused codes)', 'counter', { parameters: [id] }),
          ok({ type: 'object', properties: { code: { type: 'string', examples: ['ABCDE-FGHJK'] }, expiresAt: { type: 'string', format: 'date-time' } } }, '201'),
        ),
      },
      '/counter/audit': {
        get: withResponses(
          op('The audit log with filters, newest first, with cursor paging (R-A1)', 'counter', { parameters: queryParameters(AuditQueryDto, AUDIT_DESCRIPTIONS) }),
          ok(ref('AuditPage')),
        ),
      },
      '/counter/persons': {
        get: withResponses(op('Find persons by login name, mobile number or name', 'counter', { parameters: queryParameters(SearchQueryDto) }), ok(listOf('persons', 'Person'))),
      },
      '/counter/persons/{id}': { get: withResponses(op('A person', 'counter', { parameters: [id] }), ok(ref('Person'))) },
      '/counter/persons/{id}/realname/verify': {
        post: withResponses(
          op("Verify a person's real name: the number read from the identity card must match the submission (R-P2)", 'counter', { parameters: [id], ...body(ref('IdNumber')) }),
          ok(ref('Person')),
        ),
      },
      '/counter/persons/{id}/realname/reject': {
        post: withResponses(op('Reject a real-name submission with a note', 'counter', { parameters: [id], ...body(ref('Note')) }), ok(ref('Person'))),
      },
      '/counter/appeals': {
        get: withResponses(
          op('Appeals (申诉) by status (default pending), optionally of one unit', 'counter', { parameters: queryParameters(AppealListQueryDto) }),
          ok(listOf('appeals', 'Appeal')),
        ),
      },
      '/counter/appeals/{id}': { get: withResponses(op('An appeal with its unit and documents', 'counter', { parameters: [id] }), ok(ref('AppealDetail'))) },
      '/counter/appeals/{id}/approve': {
        post: withResponses(
          op('Approve: sends the applicant a single-use link valid 24 h (only for a registered, active, unverified unit; R-R2, R-R3)', 'counter', {
            parameters: [id],
            ...body(ref('Note')),
          }),
          ok(ref('Appeal')),
        ),
      },
      '/counter/appeals/{id}/reject': {
        post: withResponses(op('Reject with a note (2–200 characters), sent to the applicant', 'counter', { parameters: [id], ...body(ref('Note')) }), ok(ref('Appeal'))),
      },
      '/counter/appeals/{id}/documents/{documentId}': {
        get: withResponses(op('Download a document (attachment, sniffed type, nosniff; S-35); audited', 'counter', { parameters: [id, { ...id, name: 'documentId' }] }), {
          200: { description: 'The document', content: { 'application/pdf': {}, 'image/jpeg': {}, 'image/png': {} } },
        }),
      },
      '/counter/jobs/failed': {
        get: withResponses(
          op(
            "Jobs parked as failed after their last attempt (SMS, e-mail, back-channel logouts, webhooks), newest first, with the queue's counts by state; never a message text (S-56)",
            'counter',
          ),
          ok({
            type: 'object',
            properties: {
              counts: { type: 'object', properties: { pending: { type: 'integer' }, running: { type: 'integer' }, done: { type: 'integer' }, failed: { type: 'integer' } } },
              jobs: { type: 'array', items: ref('FailedJob') },
            },
          }),
        ),
      },
      '/counter/jobs/{id}/retry': {
        post: withResponses(
          op('Queue a failed job again with its full number of attempts (audited as job.retry); 404 when it is not a failed job', 'counter', { parameters: [id] }),
          noContent,
        ),
      },
      '/counter/units/{id}/appeals': { get: withResponses(op('The appeals of a unit', 'counter', { parameters: [id] }), ok(listOf('appeals', 'Appeal'))) },
      ...Object.fromEntries(
        (['account', 'password'] as const).flatMap((kind) => {
          const name = kind === 'account' ? '账号找回' : '密码找回';
          return [
            [
              `/recovery/${kind}/paths`,
              {
                post: withResponses(
                  op(
                    `${name} step 1: the recovery paths for a certificate, with the common contact's masked mobile (no token; throttled per IP like the page; an unknown certificate answers like a known one with a stable stand-in number; S-22)`,
                    'recovery',
                    { security: [], ...body(ref('RecoveryCertificate')) },
                  ),
                  ok(ref('RecoveryPaths')),
                ),
              },
            ],
            [
              `/recovery/${kind}/code`,
              {
                post: withResponses(
                  op(
                    `${name} step 2: send a code to the common contact's mobile (no token; limited per certificate; an unknown certificate gets the same answer and nothing is sent; S-22, S-29)`,
                    'recovery',
                    { security: [], ...body(ref('RecoveryCertificate')) },
                  ),
                  ok(ref('RecoveryChallenge'), '201'),
                ),
              },
            ],
          ];
        }),
      ),
      '/recovery/account/verify': {
        post: withResponses(
          op("账号找回 step 3: the code reveals the unit's login name (R-R1; wrong codes lock the certificate and the IP for a while, S-26)", 'recovery', {
            security: [],
            ...body(ref('RecoveryCode')),
          }),
          ok(ref('RecoveredUnit')),
        ),
      },
      '/recovery/password/reset': {
        post: withResponses(
          op('密码找回 step 3: the code and a new unit password; every session of the unit account ends (R-R2, S-24)', 'recovery', { security: [], ...body(ref('RecoveryReset')) }),
          ok(ref('RecoveredUnit')),
        ),
      },
      '/appeals': {
        post: withResponses(
          op(
            '申诉 (R-R3): file an appeal with up to 5 documents (PDF, JPEG, PNG; 5 MB each), as multipart/form-data; no token, no cookies (so no CSRF). Type and announced size are checked and the per-IP limit taken before the body is read (413/415/429); at most 2 uploads are parsed at once, beyond a short queue 503 with Retry-After (S-35). An unknown certificate is accepted like a known one (S-29).',
            'appeal',
            { security: [], requestBody: { required: true, content: { 'multipart/form-data': { schema: appealSchema() } } } },
          ),
          { ...ok({ type: 'object', properties: { reference: { type: 'string', examples: ['ABCD-EFGH-JKMN'] } } }, '201'), 413: error, 415: error, 503: error },
        ),
      },
      '/appeals/status': {
        post: withResponses(
          op(
            'The applicant looks up an appeal with its reference and the contact given when filing (no token: throttled per IP; an unknown reference and a wrong contact answer alike)',
            'appeal',
            { security: [], ...body(ref('AppealLookup')) },
          ),
          ok(ref('AppealStatus')),
        ),
      },
    },
    components: {
      securitySchemes: {
        oauth2: {
          type: 'oauth2',
          flows: { authorizationCode: { authorizationUrl: `${issuer}/auth`, tokenUrl: `${issuer}/token`, scopes: { manage: 'Use the management API for the signed-in account' } } },
        },
      },
      schemas: {
        ...requestSchemas(businessScopes),
        Error: {
          type: 'object',
          required: ['code', 'error', 'message', 'requestId'],
          properties: {
            code: { type: 'string', description: 'stable error code of the catalogue' },
            error: { type: 'string', description: 'the same code (kept for clients of the first version)' },
            message: { type: 'string', description: "in the request's language (zh-CN, or en with ?lang=en)" },
            field: { type: 'string', description: 'the (first) field the error refers to' },
            fields: {
              type: 'array',
              description: 'validation errors: every failing field',
              items: { type: 'object', required: ['field', 'code', 'message'], properties: { field: { type: 'string' }, code: { type: 'string' }, message: { type: 'string' } } },
            },
            requestId: { type: 'string' },
          },
        },
        Unit: {
          type: 'object',
          properties: {
            id: { type: 'string', format: 'uuid' },
            name: { type: 'string' },
            certType: { enum: [...CERT_TYPES] },
            certNo: { type: 'string' },
            loginName: { type: 'string' },
            verified: { type: 'boolean' },
            status: { enum: ['active', 'disabled'] },
          },
        },
        UnitWithHistory: {
          allOf: [
            ref('Unit'),
            {
              type: 'object',
              properties: {
                nameHistory: {
                  type: 'array',
                  items: { type: 'object', properties: { oldName: { type: 'string' }, newName: { type: 'string' }, changedAt: { type: 'string', format: 'date-time' } } },
                },
              },
            },
          ],
        },
        Binding: {
          type: 'object',
          properties: {
            id: { type: 'string', format: 'uuid' },
            unitId: { type: 'string', format: 'uuid' },
            person: {
              type: 'object',
              properties: { id: { type: 'string' }, loginName: { type: 'string' }, legalName: { type: ['string', 'null'] }, mobile: { type: 'string', description: 'masked' } },
            },
            unit: ref('Unit'),
            role: { enum: ['handler', 'contact'] },
            status: { enum: ['pending', 'active', 'declined', 'unbound'] },
            effectiveStatus: { enum: ['pending', 'active', 'declined', 'unbound', 'expired', 'not_yet_valid'] },
            scopes: { type: 'array', items: { enum: businessScopes } },
            validFrom: { type: ['string', 'null'], format: 'date' },
            validUntil: { type: ['string', 'null'], format: 'date' },
          },
        },
        IssuedCode: {
          type: 'object',
          properties: {
            id: { type: 'string' },
            hint: { type: 'string' },
            issuedAt: { type: 'string', format: 'date-time' },
            expiresAt: { type: 'string', format: 'date-time' },
            attempts: { type: 'integer' },
            state: { enum: ['live', 'used', 'expired', 'invalidated'] },
            usedAt: { type: ['string', 'null'], format: 'date-time' },
          },
        },
        AuditPage: {
          type: 'object',
          required: ['entries'],
          properties: { entries: { type: 'array', items: ref('AuditEntry') }, nextCursor: { type: 'string', description: 'absent on the last page' } },
        },
        Person: {
          type: 'object',
          properties: {
            id: { type: 'string', format: 'uuid' },
            loginName: { type: 'string' },
            mobile: { type: 'string', description: 'masked' },
            status: { enum: ['active', 'disabled'] },
            realnameStatus: { enum: ['none', 'pending', 'verified', 'rejected'] },
            legalName: { type: ['string', 'null'] },
            idNumberMasked: { type: ['string', 'null'], examples: ['4401**********1234'] },
            realnameSubmittedAt: { type: ['string', 'null'], format: 'date-time' },
            realnameDecidedAt: { type: ['string', 'null'], format: 'date-time' },
            realnameNote: { type: ['string', 'null'] },
          },
        },
        FailedJob: {
          type: 'object',
          properties: {
            id: { type: 'string', format: 'uuid' },
            kind: { type: 'string', examples: ['notification', 'backchannel_logout', 'webhook'] },
            summary: { type: 'string', description: 'what the job is about: a masked recipient or a client id (and event type)' },
            attempts: { type: 'integer' },
            lastError: { type: ['string', 'null'] },
            createdAt: { type: 'string', format: 'date-time' },
            failedAt: { type: ['string', 'null'], format: 'date-time' },
          },
        },
        Appeal: {
          type: 'object',
          properties: {
            id: { type: 'string', format: 'uuid' },
            reference: { type: 'string', examples: ['ABCD-EFGH-JKMN'] },
            kind: { enum: ['account', 'password'] },
            certType: { type: 'string' },
            certNo: { type: 'string' },
            unitId: { type: ['string', 'null'], format: 'uuid' },
            applicantName: { type: 'string' },
            contactChannel: { enum: ['sms', 'email'] },
            contact: { type: 'string' },
            status: { enum: ['pending', 'approved', 'rejected', 'completed', 'expired'] },
            createdAt: { type: 'string', format: 'date-time' },
            decidedAt: { type: ['string', 'null'], format: 'date-time' },
            decidedBy: { type: ['string', 'null'] },
            decisionNote: { type: ['string', 'null'] },
            linkExpiresAt: { type: ['string', 'null'], format: 'date-time' },
            linkUsedAt: { type: ['string', 'null'], format: 'date-time' },
          },
        },
        AppealDetail: {
          allOf: [
            ref('Appeal'),
            {
              type: 'object',
              properties: {
                unit: { oneOf: [ref('Unit'), { type: 'null' }] },
                documents: {
                  type: 'array',
                  items: {
                    type: 'object',
                    properties: {
                      id: { type: 'string', format: 'uuid' },
                      seq: { type: 'integer' },
                      contentType: { type: 'string' },
                      size: { type: 'integer' },
                      sha256: { type: 'string' },
                    },
                  },
                },
              },
            },
          ],
        },
        AppealStatus: {
          type: 'object',
          properties: {
            reference: { type: 'string' },
            kind: { enum: ['account', 'password'] },
            status: { enum: ['pending', 'approved', 'rejected', 'completed', 'expired'] },
            createdAt: { type: 'string', format: 'date-time' },
            decidedAt: { type: ['string', 'null'], format: 'date-time' },
            decisionNote: { type: 'string', description: 'only when rejected' },
          },
        },
        RecoveryPaths: {
          type: 'object',
          properties: {
            certType: { type: 'string' },
            certNo: { type: 'string' },
            maskedMobile: { type: 'string', examples: ['138****5678'] },
            appeal: { type: 'boolean', description: '申诉 is offered (not for a verified unit, R-R2)' },
          },
        },
        RecoveryChallenge: {
          type: 'object',
          properties: { certType: { type: 'string' }, certNo: { type: 'string' }, challenge: { type: 'string' }, maskedMobile: { type: 'string' } },
        },
        RecoveredUnit: { type: 'object', properties: { name: { type: 'string' }, loginName: { type: 'string' } } },
        AuditEntry: {
          type: 'object',
          properties: {
            id: { type: 'string' },
            at: { type: 'string', format: 'date-time' },
            action: { type: 'string' },
            outcome: { enum: ['success', 'failure'] },
            actorType: { type: 'string' },
            actorId: { type: ['string', 'null'] },
            actingUnitId: { type: ['string', 'null'] },
            targetType: { type: ['string', 'null'] },
            targetId: { type: ['string', 'null'] },
            ip: { type: ['string', 'null'] },
            detail: { type: 'object' },
          },
        },
      },
    },
  };
}

/** The generated request bodies; a binding's scopes are the business scopes of clients.json. */
function requestSchemas(businessScopes: string[]): Record<string, Schema> {
  const schemas: Record<string, Schema> = Object.fromEntries(Object.entries(REQUEST_BODIES).map(([name, dto]) => [name, dtoSchema(dto)]));
  for (const name of ['Bind', 'Scopes']) {
    const properties = schemas[name]!.properties as Record<string, { items?: Schema }>;
    properties.scopes!.items = { ...properties.scopes!.items, enum: businessScopes };
  }
  return schemas;
}

/** 申诉 as multipart/form-data: the fields of AppealDto and the documents (R-R3, S-35). */
function appealSchema(): Schema {
  const schema = dtoSchema(AppealDto) as { properties: Record<string, Schema>; required: string[] };
  return {
    ...schema,
    required: [...schema.required.filter((name) => name !== 'applicantAccount'), 'documents'],
    properties: {
      ...schema.properties,
      kind: { ...schema.properties.kind, enum: [...APPEAL_KINDS] },
      applicantAccount: { ...schema.properties.applicantAccount, description: 'takeover only: the person account that becomes the common contact' },
      documents: { type: 'array', minItems: 1, maxItems: DOCUMENT_LIMITS.maxFiles, items: { type: 'string', format: 'binary' } },
    },
  };
}
