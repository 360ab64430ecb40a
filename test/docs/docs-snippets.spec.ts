import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string) => readFileSync(ROOT + path, 'utf8');

describe('documented test code', () => {
  it('the README testing example is test/docs/testing-your-integration.spec.ts, byte for byte', () => {
    const spec = read('test/docs/testing-your-integration.spec.ts').trimEnd();
    expect(read('README.md')).toContain('```ts\n' + spec + '\n```');
  });

  it('docs/testing.md shows the same example', () => {
    const spec = read('test/docs/testing-your-integration.spec.ts').trimEnd();
    expect(read('docs/testing.md')).toContain('```ts\n' + spec + '\n```');
  });
});
