import { ConfigError, loadConfig } from '../../src/config/env.js';

describe('environment configuration', () => {
  it('when nothing is set, then it serves http://localhost:3000 on the embedded database outside production', () => {
    const config = loadConfig({}, '/srv/app');
    expect(config).toMatchObject({
      mode: 'development',
      port: 3000,
      issuer: 'http://localhost:3000',
      databaseUrl: undefined,
      dataDir: '/srv/app/data',
      certsDir: '/srv/app/certs',
      clientsFile: '/srv/app/clients.json',
      demoData: true,
      keysAutoGenerate: true,
      trustProxy: false,
      authorizationPost: false,
    });
  });

  it('when production is asked for, then demo data and key generation are off and https is required', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow('ISSUER must be an https URL in production');
    const config = loadConfig({ NODE_ENV: 'production', ISSUER: 'https://id.example.gov.cn/' });
    expect(config).toMatchObject({ issuer: 'https://id.example.gov.cn', demoData: false, keysAutoGenerate: false, host: '0.0.0.0' });
    expect(() => loadConfig({ NODE_ENV: 'production', ISSUER: 'https://id.example.gov.cn', DEMO_DATA: 'true' })).toThrow('DEMO_DATA cannot be enabled in production');
  });

  it.each([
    ['true', { hops: 1 }],
    ['2', { hops: 2 }],
    ['false', false],
    ['0', false],
    ['10.0.0.0/8, 192.0.2.1,::1', { cidrs: ['10.0.0.0/8', '192.0.2.1', '::1'] }],
  ])('S-36 when TRUST_PROXY is %j, then the trusted proxies are %j', (value, expected) => {
    expect(loadConfig({ TRUST_PROXY: value }).trustProxy).toEqual(expected);
  });

  it.each([
    [{ PORT: 'eighty' }, 'PORT must be a whole number'],
    [{ PORT: '70000' }, 'PORT must be between 0 and 65535'],
    [{ ISSUER: 'not a url' }, 'ISSUER must be an absolute URL'],
    [{ ISSUER: 'https://id.example/?x=1' }, 'ISSUER must not have a query or fragment'],
    [{ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL must be a postgres://'],
    [{ TRUST_PROXY: 'maybe' }, 'TRUST_PROXY must be true/false, a number of proxy hops or a list of proxy addresses (CIDR), got "maybe"'],
    [{ TRUST_PROXY: '10.0.0.0/33' }, 'TRUST_PROXY must be true/false, a number of proxy hops or a list of proxy addresses (CIDR), got "10.0.0.0/33"'],
    [{ TRUST_PROXY: '11' }, 'TRUST_PROXY must be between 0 and 10 hops'],
    [{ HASH_QUEUE_MAX: '0' }, 'HASH_QUEUE_MAX must be between 1 and 10000'],
    [{ SWEEP_PAUSE_MS: 'soon' }, 'SWEEP_PAUSE_MS must be a whole number, got "soon"'],
    [{ SWEEP_BATCH_SIZE: '1' }, 'SWEEP_BATCH_SIZE must be between 10 and 100000'],
    [{ NODE_ENV: 'staging' }, 'NODE_ENV must be production, development or test'],
  ])('when %j is set, then the start stops with a message naming the variable', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });
});

describe('expiry sweep pacing (issue #15, Q-P6)', () => {
  it('when nothing is set, then the sweep deletes 1000 rows a statement with a 50 ms pause; both can be set', () => {
    expect(loadConfig({}).sweep).toEqual({ batchSize: 1000, pauseMs: 50 });
    expect(loadConfig({ SWEEP_BATCH_SIZE: '200', SWEEP_PAUSE_MS: '0' }).sweep).toEqual({ batchSize: 200, pauseMs: 0 });
  });
});

describe('metrics and database pool configuration (issue #16)', () => {
  it('when nothing is set, then metrics are not served and the pool is a session pool', () => {
    expect(loadConfig({})).toMatchObject({ metrics: undefined, databasePoolMode: 'session', tracing: undefined, shutdownDrainSeconds: 0 });
    expect(loadConfig({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://otel:4318/v1/traces', TRACING_SAMPLE_RATIO: '0.25' }).tracing).toEqual({
      endpoint: 'http://otel:4318/v1/traces',
      serviceName: 'unit-oidc-provider',
      sampleRatio: 0.25,
    });
  });

  it('when METRICS_PORT and METRICS_TOKEN are set, then metrics get their own listener with the token', () => {
    expect(loadConfig({ METRICS_PORT: '9464', METRICS_TOKEN: 'a-token-of-sixteen-chars' }).metrics).toEqual({ port: 9464, host: '127.0.0.1', token: 'a-token-of-sixteen-chars' });
    expect(loadConfig({ NODE_ENV: 'production', ISSUER: 'https://id.example.gov.cn', METRICS_PORT: '9464', SMS_GATEWAY_URL: 'https://sms.example/send' }).metrics).toEqual({
      port: 9464,
      host: '0.0.0.0',
      token: undefined,
    });
  });

  it.each([
    [{ METRICS_PORT: '3000' }, 'METRICS_PORT must differ from PORT'],
    [{ METRICS_PORT: 'nine' }, 'METRICS_PORT must be a whole number'],
    [{ METRICS_TOKEN: 'short' }, 'METRICS_TOKEN must be 16 to 512 printable ASCII characters'],
    [{ METRICS_HOST: '0.0.0.0' }, 'METRICS_HOST is set but METRICS_PORT is not'],
    [{ DATABASE_POOL_MODE: 'statement' }, 'DATABASE_POOL_MODE=statement is not supported'],
    [{ DATABASE_POOL_MODE: 'pooled' }, 'DATABASE_POOL_MODE must be session or transaction'],
    [{ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'collector:4318' }, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT must use http or https'],
    [{ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/v1/traces', TRACING_SAMPLE_RATIO: '1.5' }, 'TRACING_SAMPLE_RATIO must be a number from 0 to 1'],
    [{ TRACING_SAMPLE_RATIO: '0.5' }, 'TRACING_SAMPLE_RATIO is set but OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is not'],
    [{ SHUTDOWN_DRAIN_SECONDS: '600' }, 'SHUTDOWN_DRAIN_SECONDS must be between 0 and 120'],
  ])('when %j is set, then the start stops with a message naming the variable', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });
});
