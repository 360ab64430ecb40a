import { verify } from 'node:crypto';
import { FakeKeyProvider } from '../../lib/testing/index.js';
import { rsaKeyPair } from '../support/keys.js';

const INPUT = new TextEncoder().encode('header.payload');

async function verifies(provider: FakeKeyProvider, signature: Uint8Array): Promise<boolean> {
  return verify('sha256', INPUT, await provider.getPublicKey(), signature);
}

describe('FakeKeyProvider', () => {
  it('signs RS256 with a key generated at construction, and counts its calls', async () => {
    const provider = new FakeKeyProvider();
    expect(provider.alg).toBe('RS256');
    expect(provider.kind).toBe('fake');
    expect(provider.publicKeyPem).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    const signature = await provider.sign(INPUT);
    expect(signature).toHaveLength(256);
    expect(await verifies(provider, signature)).toBe(true);
    expect(provider.calls).toBe(1);
  });

  it('signs with the private key it is given', async () => {
    const brand = await rsaKeyPair('brand');
    const provider = new FakeKeyProvider({ privateKeyPem: brand.privatePem, kind: 'my-kms' });
    expect(provider.kind).toBe('my-kms');
    expect(provider.publicKeyPem).toBe(brand.publicPem);
    expect(verify('sha256', INPUT, brand.publicPem, await provider.sign(INPUT))).toBe(true);
  });

  it("mode 'fail' rejects with the configured error; failNext fails only the next calls", async () => {
    const provider = new FakeKeyProvider({ error: () => new RangeError('backend down') });
    provider.mode = 'fail';
    await expect(provider.sign(INPUT)).rejects.toThrow(new RangeError('backend down'));
    provider.mode = 'ok';
    provider.failNext(2);
    await expect(provider.sign(INPUT)).rejects.toBeInstanceOf(RangeError);
    await expect(provider.sign(INPUT)).rejects.toBeInstanceOf(RangeError);
    expect(await verifies(provider, await provider.sign(INPUT))).toBe(true);
    expect(provider.calls).toBe(4);
  });

  it("mode 'fail' without an error option rejects with an Error saying the failure is simulated", async () => {
    const provider = new FakeKeyProvider({ mode: 'fail' });
    await expect(provider.sign(INPUT)).rejects.toThrow('FakeKeyProvider: simulated signing failure');
  });

  it("mode 'wrong-signature' answers a full-length signature that does not verify", async () => {
    const provider = new FakeKeyProvider({ mode: 'wrong-signature' });
    const signature = await provider.sign(INPUT);
    expect(signature).toHaveLength(256);
    expect(await verifies(provider, signature)).toBe(false);
  });

  it("mode 'hang' never answers, and counts the caller's abort", async () => {
    const provider = new FakeKeyProvider({ mode: 'hang' });
    const controller = new AbortController();
    let settled = false;
    void provider.sign(INPUT, { signal: controller.signal }).finally(() => (settled = true));
    provider.mode = 'slow';
    provider.slowMs = 20;
    // A later call in another mode completes while the hanging one is still pending.
    expect(await verifies(provider, await provider.sign(INPUT))).toBe(true);
    expect(settled).toBe(false);
    controller.abort();
    expect(provider.aborted).toBe(1);
    expect(settled).toBe(false);
  });
});
