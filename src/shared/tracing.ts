import { context, propagation, trace, SpanKind, SpanStatusCode, type Span } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler, TracerProvider } from '@opentelemetry/sdk-trace';
import type { Context, Middleware, Next } from 'koa';
import type { TracingConfig } from '../config/env.js';

/**
 * Optional OpenTelemetry traces (off unless OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set): a server span per request
 * (W3C `traceparent` honoured, the request id as an attribute), a client span per database statement, exported
 * over OTLP/HTTP. Without a provider registered, the API's no-op tracer makes every call below free.
 */
const tracer = () => trace.getTracer('unit-oidc-provider');

export interface Tracing {
  shutdown(): Promise<void>;
}

export function startTracing(config: TracingConfig | undefined): Tracing {
  if (!config) return { shutdown: async () => undefined };
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': config.serviceName }),
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(config.sampleRatio) }),
    spanProcessors: [new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url: config.endpoint }), scheduledDelayMillis: 1000 })],
  });
  trace.setGlobalTracerProvider(provider);
  return {
    async shutdown() {
      await provider.shutdown().catch(() => undefined);
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
}

/** The server span of each request; runs the rest of the request inside it, named after the route template. */
export function tracingMiddleware(routeOf: (ctx: Context) => string): Middleware {
  return async (ctx: Context, next: Next) => {
    const parent = propagation.extract(context.active(), ctx.headers);
    const span = tracer().startSpan(`${ctx.method} request`, { kind: SpanKind.SERVER, attributes: { 'http.request.method': ctx.method, 'url.path': ctx.path } }, parent);
    try {
      await context.with(trace.setSpan(parent, span), next);
    } finally {
      const route = routeOf(ctx);
      span.updateName(`${ctx.method} ${route}`);
      span.setAttributes({ 'http.route': route, 'http.response.status_code': ctx.status });
      const requestId = (ctx.state as { requestId?: string }).requestId;
      if (requestId) span.setAttribute('request.id', requestId);
      if (ctx.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    }
  };
}

/** A client span around one database statement (the text, never the values). */
export function databaseSpan(sql: string): Span {
  const span = tracer().startSpan('db.query', { kind: SpanKind.CLIENT });
  // The text is tidied only for a span that is recorded: with tracing off (the no-op tracer) or sampled out, a
  // statement costs no string work here (issue #15: the token lookup's text is a few kilobytes).
  if (span.isRecording()) span.setAttributes({ 'db.system.name': 'postgresql', 'db.query.text': sql.replace(/\s+/g, ' ').slice(0, 500) });
  return span;
}

/** The trace id of the current span, for log lines; undefined when tracing is off. */
export function currentTraceId(): string | undefined {
  const span = trace.getActiveSpan();
  return span?.isRecording() ? span.spanContext().traceId : undefined;
}
