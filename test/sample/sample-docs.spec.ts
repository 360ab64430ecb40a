import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string) => readFileSync(ROOT + path, 'utf8');

/** The `#region iadvize-integration` of the page script: the snippet teams copy. */
function integrationRegion(): string {
  const lines = read('sample/public/app.js').split('\n');
  const start = lines.findIndex((l) => l.startsWith('// #region iadvize-integration'));
  const end = lines.findIndex((l) => l.startsWith('// #endregion iadvize-integration'));
  if (start === -1 || end <= start) throw new Error('sample/public/app.js: the iadvize-integration region markers are missing');
  return lines.slice(start + 1, end).join('\n').trimEnd();
}

describe('docs/sample.md', () => {
  it('shows the page snippet exactly as sample/public/app.js runs it', () => {
    const snippet = integrationRegion();
    expect(snippet).toContain("type: 'SECURED_AUTHENTICATION'");
    expect(snippet).toContain("'X-Requested-With': 'fetch'");
    expect(read('docs/sample.md')).toContain('```js\n' + snippet + '\n```');
  });

  it('the README shows the same snippet, and the demo users', async () => {
    expect(read('README.md')).toContain('```js\n' + integrationRegion() + '\n```');
    const { DEMO_USERS } = await import('../../sample/src/users/demo-users.js');
    for (const user of DEMO_USERS) expect(read('README.md')).toContain(`\`${user.username}\` / \`${user.password}\``);
  });

  it('lists the demo users with the passwords the sample really uses', async () => {
    const { DEMO_USERS } = await import('../../sample/src/users/demo-users.js');
    const doc = read('docs/sample.md');
    for (const user of DEMO_USERS) {
      expect(doc).toContain(`| \`${user.username}\` | \`${user.password}\` | \`${user.id}\` |`);
    }
  });

  it('links the screenshot that the browser test produces', () => {
    expect(read('docs/sample.md')).toContain('](images/sample-page.png)');
    expect(readFileSync(ROOT + 'docs/images/sample-page.png').subarray(1, 4).toString()).toBe('PNG');
  });
});
