import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string) => readFileSync(ROOT + path, 'utf8');

/** A `#region NAME` of the page script: the snippets teams copy. */
function region(name: string): string {
  const lines = read('sample/public/app.js').split('\n');
  const start = lines.findIndex((l) => l.startsWith(`// #region ${name} `));
  const end = lines.findIndex((l) => l === `// #endregion ${name}`);
  if (start === -1 || end <= start) throw new Error(`sample/public/app.js: the ${name} region markers are missing`);
  return lines.slice(start + 1, end).join('\n').trimEnd();
}

/** The `#region iadvize-integration` of the page script: the snippet teams copy. */
const integrationRegion = () => region('iadvize-integration');

describe('docs/sample.md', () => {
  it('shows the page snippet exactly as sample/public/app.js runs it', () => {
    const snippet = integrationRegion();
    expect(snippet).toContain("type: 'SECURED_AUTHENTICATION'");
    expect(snippet).toContain("'X-Requested-With': 'fetch'");
    expect(read('docs/sample.md')).toContain('```js\n' + snippet + '\n```');
  });

  it('docs/operations.md shows the same snippet, and every cookie-authenticated fetch there sends the CSRF header', () => {
    const doc = read('docs/operations.md');
    expect(doc).toContain('```js\n' + integrationRegion() + '\n```');
    const calls = [...doc.matchAll(/fetch\((?:[^()]|\([^()]*\))*\)/g)].map((m) => m[0]).filter((call) => call.includes("credentials: 'same-origin'"));
    expect(calls.length).toBeGreaterThanOrEqual(2); // the token call and the sign-out call
    for (const call of calls) expect(call).toContain("'X-Requested-With': 'fetch'");
  });

  it('docs/operations.md shows the boxed-tag bridge exactly as sample/public/app.js runs it', () => {
    const bridge = region('iadvize-boxed-bridge');
    expect(bridge).toContain("method: 'set-activate-auth-token', args: token");
    expect(bridge).toContain("event.data.method !== 'get-activate-auth-token'");
    expect(bridge).toContain('event.source !== iframe.contentWindow');
    expect(read('docs/operations.md')).toContain('```js\n' + bridge + '\n```');
  });

  it('the README links the snippet instead of carrying a third copy, and shows the demo users', async () => {
    expect(read('README.md')).not.toContain('async function fetchIAdvizeToken');
    expect(read('README.md')).toContain('](docs/operations.md#the-front-end-activate-and-logout)');
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
