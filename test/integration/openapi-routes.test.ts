import type { Middleware } from 'koa';
import { apiRoutes } from '../../src/modules/api/routes.js';
import { dtoSchema, QUERIES, REQUEST_BODIES } from '../../src/modules/api/openapi.js';
import { AppealDto } from '../../src/modules/recovery/dto.js';
import { CERT_TYPES, UNIT_NAME } from '../../src/modules/units/certificates.js';
import { PASSWORD_MAX, PASSWORD_MIN } from '../../src/shared/security/passwords.js';
import { startTestApp, type TestApp } from '../support/app.js';

/**
 * The OpenAPI document against the router (issue #13): the document is generated from the DTOs the routes validate
 * with, and this test walks the management API's routes and the served document and fails when a route, a
 * method, a request body, a query or a constraint differs, so that the two cannot drift again (the hand-written
 * document said unit names 2–100 while the DTO said 1–200, and passwords 128 while the DTO said 512).
 */

type Operation = { requestBody?: { content: Record<string, { schema: { $ref?: string } & Record<string, unknown> }> }; parameters?: { name: string; in: string }[] };
type Document = { paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, Record<string, unknown>> } };
interface Route {
  key: string;
  method: string;
  path: string;
  source: string;
}

const PREFIX = '/api/v1';
const passThrough: Middleware = async (_ctx, next) => next();

describe('the OpenAPI document and the routes of the management API (issue #13)', () => {
  let app: TestApp;
  let document: Document;
  let routes: Route[];

  beforeAll(async () => {
    app = await startTestApp();
    document = (await (await fetch(`${app.url}${PREFIX}/openapi.json`)).json()) as Document;
    const router = apiRoutes(app.app.services, passThrough);
    routes = router.stack
      .filter((layer) => layer.methods.length > 0 && layer.path !== `${PREFIX}/openapi.json`)
      .flatMap((layer) =>
        layer.methods
          .filter((method) => method !== 'HEAD')
          .map((method) => {
            const path = String(layer.path)
              .slice(PREFIX.length)
              .replace(/:(\w+)/g, '{$1}');
            const source = layer.stack.map((handler) => handler.toString()).join('\n');
            return { key: `${method.toLowerCase()} ${path}`, method: method.toLowerCase(), path, source };
          }),
      );
  });
  afterAll(() => app.close());

  const operation = (route: Route): Operation => document.paths[route.path]![route.method]!;
  const used = (source: string, validator: 'validBody' | 'validQuery') =>
    [...source.matchAll(new RegExp(`${validator}\\)?\\(ctx, (?:\\w+\\.)?(\\w+)\\)`, 'g'))].map((match) => match[1]);

  it('when the routes are listed, then the document has exactly the same paths and methods', () => {
    const documented = Object.entries(document.paths).flatMap(([path, methods]) => Object.keys(methods).map((method) => `${method} ${path}`));
    expect(routes.length).toBeGreaterThan(30);
    expect([...new Set(routes.map((route) => route.key))].sort()).toEqual(documented.sort());
  });

  it('when a route validates a JSON body, then the document describes that DTO, with its constraints, and no other route has a body', () => {
    const problems: string[] = [];
    for (const route of routes) {
      const dtos = [...new Set(used(route.source, 'validBody'))];
      const content = operation(route).requestBody?.content;
      if (route.source.includes('receiveAppeal(')) {
        const schema = content?.['multipart/form-data']?.schema;
        if (!schema) problems.push(`${route.key}: no multipart body`);
        else expect(schema).toMatchObject({ properties: (dtoSchema(AppealDto) as { properties: object }).properties });
        continue;
      }
      const ref = content?.['application/json']?.schema.$ref?.replace('#/components/schemas/', '');
      if (dtos.length === 0) {
        if (content) problems.push(`${route.key}: documents a body it does not read`);
        continue;
      }
      const declared = ref ? REQUEST_BODIES[ref as keyof typeof REQUEST_BODIES] : undefined;
      if (!declared || dtos.length !== 1 || declared.name !== dtos[0]) {
        problems.push(`${route.key}: validates ${dtos.join(', ')}, documents ${ref ?? 'nothing'}`);
        continue;
      }
      // The served component carries every constraint of the DTO the route validates with.
      expect([route.key, document.components.schemas[ref!]]).toMatchObject([route.key, dtoSchema(declared!)]);
    }
    expect(problems).toEqual([]);
  });

  it("when a route validates its query, then the document lists exactly that DTO's parameters and constraints", () => {
    const problems: string[] = [];
    for (const route of routes) {
      const dtos = used(route.source, 'validQuery');
      const documented = (operation(route).parameters ?? []).filter((parameter) => parameter.in === 'query');
      if (dtos.length === 0) {
        if (documented.length > 0) problems.push(`${route.key}: documents a query it does not read`);
        continue;
      }
      const declared = QUERIES[route.path as keyof typeof QUERIES];
      if (declared?.name !== dtos[0]) {
        problems.push(`${route.key}: validates ${dtos[0]}, documents ${declared?.name ?? 'nothing'}`);
        continue;
      }
      const schema = dtoSchema(declared) as { properties: Record<string, unknown>; required?: string[] };
      expect([route.key, documented]).toEqual([
        route.key,
        Object.entries(schema.properties).map(([name, property]) =>
          expect.objectContaining({ name, schema: property, ...(schema.required?.includes(name) ? { required: true } : {}) }),
        ),
      ]);
    }
    expect(problems).toEqual([]);
  });

  it('when the limits of the contract are read, then they come from one place: unit name (R-U4), password (R-P3), certificate types (R-U2)', () => {
    const schemas = document.components.schemas as Record<string, { properties?: Record<string, Record<string, unknown>> }>;
    expect(schemas.UnitName!.properties!.name).toMatchObject({ minLength: UNIT_NAME.min, maxLength: UNIT_NAME.max });
    expect([UNIT_NAME.min, UNIT_NAME.max, PASSWORD_MIN, PASSWORD_MAX]).toEqual([2, 100, 8, 128]);
    for (const name of ['UnitRegistration', 'RecoveryReset']) {
      expect([name, schemas[name]!.properties!.password]).toMatchObject([name, { minLength: PASSWORD_MIN, maxLength: PASSWORD_MAX }]);
    }
    // Every certType of the document, request or response, lists the same types as the code.
    const found: unknown[] = [];
    const walk = (node: unknown): void => {
      if (!node || typeof node !== 'object') return;
      for (const [key, value] of Object.entries(node)) {
        if (key === 'certType' && value && typeof value === 'object' && 'enum' in value) found.push((value as { enum: unknown }).enum);
        walk(value);
      }
    };
    walk(document);
    expect(found.length).toBeGreaterThanOrEqual(6);
    for (const list of found) expect(list).toEqual([...CERT_TYPES]);
  });
});
