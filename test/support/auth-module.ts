import { createPrivateKey, createPublicKey } from 'node:crypto';
import type { DynamicModule, INestApplication, LoggerService, Provider, Type } from '@nestjs/common';
import { Test, type TestingModule, type TestingModuleBuilder } from '@nestjs/testing';
import { IAdvizeAuthModule } from '../../lib/iadvize-auth.module.js';
import { FakeIAdvizeSetup } from '../../lib/testing/fake-iadvize-setup.js';
import type { TestKeyPair } from './keys.js';
import { startApp, type PlatformFactory } from './platforms.js';

/** What `IAdvizeAuthModule.forRoot` takes: the options and the module extras (controller, userResolver, ...). */
export type IAdvizeAuthOptions = Parameters<typeof IAdvizeAuthModule.forRoot>[0];

/** The issuer most specs configure. */
export const TEST_ISSUER = 'https://brand.example';

/**
 * One fake iAdvize + brand key pair for a spec file (RSA generation is slow:
 * call it once, in the file's `beforeAll`). Keys are generated now, in memory.
 */
export function authTestSetup(issuer: string = TEST_ISSUER): Promise<FakeIAdvizeSetup> {
  return FakeIAdvizeSetup.create({ issuer });
}

/**
 * The setup's brand key pair as a {@link TestKeyPair} (PEMs and key objects),
 * for specs that use the brand key itself (a schedule entry, a signer, a thumbprint).
 */
export function authTestBrandKey(setup: FakeIAdvizeSetup): TestKeyPair {
  const privatePem = setup.moduleOptions.signingKey.pem;
  return { privatePem, publicPem: setup.brandPublicKeyPem, privateKey: createPrivateKey(privatePem), publicKey: createPublicKey(setup.brandPublicKeyPem) };
}

/** What {@link authTestModule} builds besides the library module. */
export interface AuthTestModuleParts {
  /** Options merged over `setup.moduleOptions` (issuer, brand key, iAdvize public key). */
  options?: Partial<IAdvizeAuthOptions>;
  /** Shorthand for `options.controller`. */
  controller?: IAdvizeAuthOptions['controller'];
  /** Shorthand for `options.userResolver`. */
  userResolver?: IAdvizeAuthOptions['userResolver'];
  /** Other modules of the test app, imported after the library module. */
  imports?: (Type<unknown> | DynamicModule)[];
  /** Providers of the test app's root module. */
  providers?: Provider[];
  /** Controllers of the test app's root module. */
  controllers?: Type<unknown>[];
  /** Last changes to the testing module before compile (e.g. `overrideProvider`). */
  override?: (builder: TestingModuleBuilder) => TestingModuleBuilder;
  /** The logger of the testing module while it compiles and initialises (`builder.setLogger`): startup logs. */
  moduleLogger?: LoggerService;
}

/** A compiled testing module around `IAdvizeAuthModule.forRoot(options)`. */
export interface AuthTestModule {
  setup: FakeIAdvizeSetup;
  moduleRef: TestingModule;
  /** The exact options given to `forRoot`. */
  options: IAdvizeAuthOptions;
}

/** An {@link AuthTestModule} started on an HTTP platform. */
export interface AuthTestApp extends AuthTestModule {
  app: INestApplication;
}

/** The options {@link authTestModule} gives to `forRoot`: the setup's options, then `parts`. */
export function authTestOptions(setup: FakeIAdvizeSetup, parts: AuthTestModuleParts = {}): IAdvizeAuthOptions {
  const options: IAdvizeAuthOptions = { ...setup.moduleOptions, ...parts.options };
  if (parts.controller !== undefined) options.controller = parts.controller;
  if (parts.userResolver !== undefined) options.userResolver = parts.userResolver;
  return options;
}

/**
 * The testing module {@link authTestModule} compiles, not compiled yet: for a
 * test that expects `compile()` to reject (bad options, a failing self-check).
 */
export function authTestModuleBuilder(setup: FakeIAdvizeSetup, parts: AuthTestModuleParts = {}): { builder: TestingModuleBuilder; options: IAdvizeAuthOptions } {
  const options = authTestOptions(setup, parts);
  let builder = Test.createTestingModule({
    imports: [IAdvizeAuthModule.forRoot(options), ...(parts.imports ?? [])],
    providers: parts.providers ?? [],
    controllers: parts.controllers ?? [],
  });
  if (parts.moduleLogger) builder = builder.setLogger(parts.moduleLogger);
  if (parts.override) builder = parts.override(builder);
  return { builder, options };
}

/** Compiles a testing module importing `IAdvizeAuthModule.forRoot(...)` wired to `setup`. */
export async function authTestModule(setup: FakeIAdvizeSetup, parts: AuthTestModuleParts = {}): Promise<AuthTestModule> {
  const { builder, options } = authTestModuleBuilder(setup, parts);
  return { setup, moduleRef: await builder.compile(), options };
}

/**
 * {@link authTestModule}, then starts the app on `platform`. `logger` is the
 * app's logger (silent unless given one); `moduleLogger` also sees what is
 * logged while the module compiles.
 */
export async function authTestApp(
  setup: FakeIAdvizeSetup,
  platform: PlatformFactory,
  parts: AuthTestModuleParts & { logger?: LoggerService | false } = {},
): Promise<AuthTestApp> {
  const built = await authTestModule(setup, parts);
  return { ...built, app: await startApp(built.moduleRef, platform, parts.logger ?? false) };
}
