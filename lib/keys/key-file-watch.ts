import { createHash } from 'node:crypto';
import { readFile, realpath, stat } from 'node:fs/promises';
import { InvalidKeyError } from '../errors.js';

/** Default of `watchIntervalMs` on a watched key file: 2 seconds. */
export const DEFAULT_KEY_FILE_WATCH_INTERVAL_MS = 2000;
/** Shortest `watchIntervalMs`: 100 ms. */
export const MIN_KEY_FILE_WATCH_INTERVAL_MS = 100;
/** Longest `watchIntervalMs`: one hour. */
export const MAX_KEY_FILE_WATCH_INTERVAL_MS = 3_600_000;

/** What a poll of a watched key file found. @internal */
export type KeyFileState =
  /** The file's identity (real path, inode, size, mtime): unchanged means "nothing to do". */
  | { ok: true; stamp: string; read: () => Promise<{ bytes: Buffer; hash: string }> }
  | { ok: false; stamp: string; reason: string };

/**
 * Stats a watched key file through its symlinks (Kubernetes mounts a secret
 * as `key.pem -> ..data/key.pem`, `..data -> ..2026_12_02_…`, and swaps
 * `..data` atomically), so a swap changes the stamp even when the new file
 * has the same size and mtime. The bytes are read from the resolved path, so
 * what is hashed and loaded is one consistent version of the file.
 * @internal
 */
export async function pollKeyFile(file: string, description: string): Promise<KeyFileState> {
  let real: string;
  let stamp: string;
  try {
    real = await realpath(file);
    const st = await stat(real);
    if (!st.isFile()) return { ok: false, stamp: `notfile:${real}`, reason: `${description} is not a regular file` };
    stamp = `${real}\u0000${st.ino}\u0000${st.size}\u0000${st.mtimeMs}`;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'unknown error';
    return { ok: false, stamp: `error:${code}`, reason: `${description} cannot be read (${code})` };
  }
  return {
    ok: true,
    stamp,
    read: async () => {
      let bytes: Buffer;
      try {
        bytes = await readFile(real);
      } catch (e) {
        throw new InvalidKeyError(`${description} cannot be read (${(e as NodeJS.ErrnoException).code ?? 'unknown error'})`);
      }
      return { bytes, hash: createHash('sha256').update(bytes).digest('base64url') };
    },
  };
}
