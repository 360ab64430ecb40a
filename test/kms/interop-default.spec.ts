/**
 * interopDefault: what `import()` of a CommonJS optional dependency yields
 * differs by loader. Node's ESM loader puts `module.exports` on `default` and
 * exposes as named exports only what its static analysis finds (pkcs11js:
 * `PKCS11` alone, none of its constants); TypeScript's CommonJS output and
 * Jest copy every property and also set `default`. `module.exports` must win.
 * (The artifact suite checks the real loaders end to end.)
 */
import { interopDefault } from '../../lib/kms/remote-key.provider.js';

class PKCS11 {}
const moduleExports = { PKCS11, CKM_SHA256_RSA_PKCS: 64, CKA_MODULUS: 288 };

describe('interopDefault', () => {
  it("Node's ESM namespace of pkcs11js (named PKCS11 only, everything on default): module.exports", () => {
    const nodeNamespace = { PKCS11, default: moduleExports };
    const sdk = interopDefault<typeof moduleExports>(nodeNamespace as never, 'CKM_SHA256_RSA_PKCS');
    expect(sdk.CKM_SHA256_RSA_PKCS).toBe(64);
    expect(sdk).toBe(moduleExports);
    // The old probe ('PKCS11') matched the partial namespace: the constants were lost.
    expect(interopDefault<typeof moduleExports>(nodeNamespace as never, 'PKCS11').CKA_MODULUS).toBe(288);
  });

  it('TypeScript __importStar / Jest namespaces (every key plus default): module.exports', () => {
    const star = { ...moduleExports, default: moduleExports };
    expect(interopDefault<typeof moduleExports>(star as never, 'CKM_SHA256_RSA_PKCS')).toBe(moduleExports);
  });

  it('an ESM package (no default holding the probe) is used as is; a function default holding it is taken', () => {
    const esm = { KeyManagementServiceClient: class {} };
    expect(interopDefault(esm, 'KeyManagementServiceClient')).toBe(esm);
    const withOtherDefault = { KeyClient: class {}, default: { something: 1 } };
    expect(interopDefault(withOtherDefault as never, 'KeyClient')).toBe(withOtherDefault);
    const fn = Object.assign(() => undefined, { probe: 1 });
    expect(interopDefault({ default: fn } as never, 'probe')).toBe(fn);
  });

  it('the real pkcs11js, loaded as this test runner loads it, exposes its constants', async () => {
    const sdk = interopDefault((await import('pkcs11js')) as never, 'CKM_SHA256_RSA_PKCS') as typeof import('pkcs11js');
    expect(typeof sdk.PKCS11).toBe('function');
    expect(sdk.CKM_SHA256_RSA_PKCS).toBe(0x40);
    expect(sdk.CKM_RSA_PKCS).toBe(0x1);
  });
});
