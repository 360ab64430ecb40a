/** Loading an optional peer dependency (a cloud SDK, pkcs11js) lazily, with an "install X" error when it is missing. */
import { MissingDependencyError } from '../errors.js';

/**
 * Loads an optional peer dependency. A missing package becomes a
 * `MissingDependencyError` ("install X"); any other loading error is rethrown.
 */
export async function importOptional<T>(load: () => Promise<T>, packageName: string, feature: string): Promise<T> {
  try {
    return await load();
  } catch (e) {
    const code = (e as { code?: unknown })?.code;
    const message = String((e as { message?: unknown })?.message ?? '');
    if ((code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND' || /Cannot find (module|package)/.test(message)) && message.includes(packageName)) {
      throw new MissingDependencyError(packageName, feature);
    }
    throw e;
  }
}

/**
 * The `module.exports` of a CommonJS package loaded with `import()`.
 *
 * Node's ESM loader gives a namespace whose `default` is `module.exports` and
 * whose named exports are only what its static analysis found (for pkcs11js,
 * `module.exports = { ...constants, PKCS11 }`, that is `PKCS11` alone: every
 * `CKM_*` is missing). TypeScript's CommonJS output (`__importStar(require())`)
 * and Jest copy every property but also set `default`. So `default` wins when
 * it holds `probe`; the namespace itself is the fallback (an ESM build of the
 * package, or a loader without `default`).
 */
export function interopDefault<T>(mod: T | { default: T }, probe: string): T {
  const inner = (mod as { default?: unknown } | null | undefined)?.default;
  if (inner !== null && (typeof inner === 'object' || typeof inner === 'function') && probe in inner) return inner as T;
  return mod as T;
}
