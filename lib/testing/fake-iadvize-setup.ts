import { generateKeyPair } from 'node:crypto';
import { promisify } from 'node:util';
import { FakeIAdvize, type OpenOptions, type OpenedToken } from './fake-iadvize.js';

const generateKeyPairAsync = promisify(generateKeyPair);

/**
 * Module options that make `IAdvizeAuthModule` mint tokens a
 * {@link FakeIAdvizeSetup} opens: the throwaway brand signing key, the fake
 * iAdvize's public key, and the issuer. A subset of `IAdvizeAuthOptions`:
 * spread it into `forRoot({ ... })`, or give it to
 * `overrideProvider(IADVIZE_AUTH_MODULE_OPTIONS).useValue(...)`.
 * @public
 */
export interface FakeIAdvizeModuleOptions {
  /** The `iss` claim the tokens carry (and {@link FakeIAdvizeSetup.open} checks). */
  issuer: string;
  /** The throwaway brand private key, as a PKCS#8 PEM (tests only). */
  signingKey: { pem: string };
  /** The fake iAdvize's public key (SPKI PEM): tokens are encrypted to it. */
  iadvizePublicKey: string;
}

/**
 * Everything a test needs to check the recommended set-up end to end: a
 * {@link FakeIAdvize} (a throwaway iAdvize key pair), a throwaway brand key
 * pair, and the module options that connect them.
 *
 * ```ts
 * const setup = await FakeIAdvizeSetup.create({ issuer: 'https://www.example.com' });
 * // forRoot in the test:
 * IAdvizeAuthModule.forRoot({ ...setup.moduleOptions, controller: { guards: [MyAuthGuard] } });
 * // or your real AppModule, whatever it uses (forRoot, forRootAsync + ConfigService):
 * Test.createTestingModule({ imports: [AppModule] })
 *   .overrideProvider(IADVIZE_AUTH_MODULE_OPTIONS).useValue(setup.moduleOptions);
 * // then, with a token from the endpoint:
 * const { userId, visitorData } = await setup.open(token);
 * ```
 *
 * Both key pairs are generated in memory at each `create()` and never written
 * anywhere; never use them outside tests and local demos.
 * @public
 */
export class FakeIAdvizeSetup {
  private constructor(
    /** The fake iAdvize: use it directly to open tokens with other options. */
    readonly iadvize: FakeIAdvize,
    /** The `iss` the module is configured with and {@link FakeIAdvizeSetup.open} checks. */
    readonly issuer: string,
    /** The throwaway brand public key (SPKI PEM): what a brand registers with iAdvize. */
    readonly brandPublicKeyPem: string,
    private readonly brandPrivateKeyPem: string,
  ) {}

  /**
   * Generates a fake iAdvize and a brand key pair (RSA-2048 each).
   *
   * @param options.issuer the `iss` of the tokens. Default: `'https://www.example.com'`.
   */
  static async create(options: { issuer?: string } = {}): Promise<FakeIAdvizeSetup> {
    const [iadvize, brand] = await Promise.all([FakeIAdvize.create(), generateKeyPairAsync('rsa', { modulusLength: 2048 })]);
    return new FakeIAdvizeSetup(
      iadvize,
      options.issuer ?? 'https://www.example.com',
      brand.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      brand.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    );
  }

  /**
   * The module options that connect the module to this setup (a new object
   * on each read): `{ issuer, signingKey: { pem }, iadvizePublicKey }`.
   */
  get moduleOptions(): FakeIAdvizeModuleOptions {
    return { issuer: this.issuer, signingKey: { pem: this.brandPrivateKeyPem }, iadvizePublicKey: this.iadvize.publicKeyPem };
  }

  /**
   * Opens a token as iAdvize would, with this setup's brand public key and
   * issuer. Throws `FakeIAdvizeError` (with a `reason`) when iAdvize would
   * refuse it.
   *
   * @param token the compact JWE from the token endpoint
   * @param options e.g. `currentDate` to check expiry at another time; `issuer` defaults to this setup's
   */
  open(token: string, options: OpenOptions = {}): Promise<OpenedToken> {
    return this.iadvize.open(token, this.brandPublicKeyPem, { issuer: this.issuer, ...options });
  }
}
