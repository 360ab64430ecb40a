import { fileURLToPath } from 'node:url';

/**
 * The sample's own folder (`sample/`), found from this file's location so it
 * is the same whether the code runs compiled (`sample/dist/`) or from source
 * (`sample/src/`, in the tests). Never an absolute path written in the repo.
 */
export const SAMPLE_ROOT = fileURLToPath(new URL('../', import.meta.url));

/** Static files of the web page (`sample/public/`). */
export const PUBLIC_DIR = fileURLToPath(new URL('../public/', import.meta.url));

/** Default folder of the generated development keys (`sample/.keys/`, git-ignored). Override with `SAMPLE_KEYS_DIR`. */
export const DEFAULT_KEYS_DIR = fileURLToPath(new URL('../.keys/', import.meta.url));
