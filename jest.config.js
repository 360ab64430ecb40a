/** Jest 30 in ESM mode (NestJS 12 is ESM-only); run through `npm run test:jest`. */
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  testRegex: '\\.spec\\.ts$',
  roots: ['<rootDir>/test'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: { '^.+\\.ts$': ['ts-jest', { useESM: true }] },
  setupFiles: ['<rootDir>/test/jest/setup.ts'],
  // Suite-wide secrets check: every test process's output is captured, then scanned at the end.
  globalSetup: '<rootDir>/test/jest/global-setup.mjs',
  globalTeardown: '<rootDir>/test/jest/global-teardown.mjs',
  reporters: ['default', '<rootDir>/test/jest/output-reporter.mjs'],
  testTimeout: 30000,
  maxWorkers: 2,
};
