import { pino, type Logger } from 'pino';

export type { Logger };

/** Structured JSON logs on stdout; secrets that may appear in logged objects are redacted. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'unit-oidc-provider' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    redact: {
      paths: ['*.password', '*.client_secret', '*.code', '*.token', '*.refresh_token', '*.access_token', 'req.headers.authorization', 'req.headers.cookie'],
      censor: '[redacted]',
    },
  });
}
