/** Jest runs the TypeScript sources as native ES modules, compiled on the fly by SWC. */
export default {
  testEnvironment: 'node',
  roots: ['<rootDir>/test', '<rootDir>/packages/rp-kit/test'],
  testMatch: ['**/*.test.ts'],
  extensionsToTreatAsEsm: ['.ts'],
  // The RP kit workspace is tested from its sources (its dist/ is what `npm pack` ships, tested by rp-kit-package).
  moduleNameMapper: { '^@unit-oidc/rp-kit$': '<rootDir>/packages/rp-kit/src/index.ts', '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': ['@swc/jest', {
      jsc: {
        parser: { syntax: 'typescript', decorators: true },
        transform: { legacyDecorator: true, decoratorMetadata: true },
        target: 'es2023',
      },
      module: { type: 'es6' },
      sourceMaps: 'inline',
    }],
  },
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  testTimeout: 60000,
  // The suites run in a worker process, not in band in jest's own (its default with one worker on a 2-core
  // machine): a worker whose heap passes the limit after a suite is replaced, so late suites do not run in a
  // heap grown by all before them (frequent full GCs of a multi-GiB heap made the memory
  // suite of S-35 take 209 s instead of 8). One worker by default (`JEST_WORKERS` for more): the suites that
  // start the embedded database or servers time out when two run at once on two loaded cores.
  maxWorkers: Number(process.env.JEST_WORKERS ?? 1),
  workerIdleMemoryLimit: '1GB',
};
