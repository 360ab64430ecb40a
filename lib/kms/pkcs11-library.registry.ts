/**
 * The process-wide registry of loaded PKCS#11 libraries: each is loaded and
 * `C_Initialize`d once, shared by every provider using it, and finalised when
 * the last one closes.
 */
import type { PKCS11 } from 'pkcs11js';
import { pkcs11Code } from './pkcs11-return-codes.js';

/** The `pkcs11js` module, loaded lazily (an optional peer dependency). */
export type Pkcs11Js = typeof import('pkcs11js');

/** A loaded PKCS#11 library, shared by every provider of the process that uses it. */
export interface LoadedModule {
  p11: PKCS11;
  refs: number;
  /** False when someone else in the process had already called C_Initialize. */
  finalize: boolean;
  /** Providers logged in, per slot (hex): the last one out logs out. `pin` is a SHA-256 of the PIN used, never the PIN. */
  logins: Map<string, { count: number; pin: string }>;
}

/** C_Initialize / C_Finalize once per process and library, by library path. */
const modules = new Map<string, Promise<LoadedModule>>();

/** The library at `path`, loaded and initialised on first use; pair every call with {@link releaseModule}. */
export async function acquireModule(sdk: Pkcs11Js, path: string): Promise<LoadedModule> {
  let entry = modules.get(path);
  if (!entry) {
    entry = (async () => {
      const p11 = new sdk.PKCS11();
      p11.load(path);
      let finalize = true;
      try {
        // Signatures run on libuv's thread pool: the library must lock itself.
        p11.C_Initialize({ flags: sdk.CKF_OS_LOCKING_OK });
      } catch (e) {
        if (pkcs11Code(e) !== 'CKR_CRYPTOKI_ALREADY_INITIALIZED') {
          p11.close();
          throw e;
        }
        finalize = false;
      }
      return { p11, refs: 0, finalize, logins: new Map() };
    })();
    modules.set(path, entry);
    entry.catch(() => modules.delete(path));
  }
  const loaded = await entry;
  loaded.refs++;
  return loaded;
}

/** Gives a library back: the last user finalises and unloads it. */
export function releaseModule(path: string, loaded: LoadedModule): void {
  loaded.refs--;
  if (loaded.refs > 0) return;
  modules.delete(path);
  try {
    if (loaded.finalize) loaded.p11.C_Finalize();
  } catch {
    // already finalized
  }
  try {
    loaded.p11.close();
  } catch {
    // already closed
  }
}
