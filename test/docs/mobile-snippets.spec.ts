import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * docs/mobile.md: one complete snippet per iAdvize mobile SDK, using the SDK's
 * own API names verbatim (as iAdvize's SDK repositories spell them), never
 * blocking the SDK's thread, sending a bearer token, and with a failure path.
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const doc = readFileSync(ROOT + 'docs/mobile.md', 'utf8');

function block(lang: string): string {
  const blocks = [...doc.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)\\n```', 'g'))].map((m) => m[1]);
  expect(blocks).toHaveLength(1);
  return blocks[0];
}

const SNIPPETS: Array<{ sdk: string; lang: string; version: RegExp; api: string[]; failure: string[]; async: string[]; deadline: string }> = [
  {
    sdk: 'Android',
    lang: 'kotlin',
    version: /Android SDK \*\*3\.1\.1\*\*/,
    api: [
      'AuthenticationOption.Secured(',
      'AuthenticationOption.JWEProvider',
      'override fun onJWERequested(callback: JWECallback)',
      'callback.onJWERetrieved(',
      'IAdvizeSDK.activate(',
    ],
    failure: ['callback.onJWEFailure(e)', 'override fun onFailure(call: Call, e: IOException)', 'it.code != 200'],
    async: ['.enqueue('],
    deadline: 'timeout().timeout(10, TimeUnit.SECONDS)',
  },
  {
    sdk: 'iOS',
    lang: 'swift',
    version: /iOS SDK \*\*3\.0\.0\*\*/,
    api: [
      'class AuthProvider: JWEProvider',
      'func willRequestJWE(completion: @escaping (Result<JWE, Error>) -> Void)',
      'completion(.success(JWE(value: token)))',
      '.secured(jweProvider: authProvider)',
      'IAdvizeSDK.shared.activate(',
    ],
    failure: ['completion(.failure(error))', 'guard status == 200 else'],
    async: ['try await URLSession.shared.data(for: request)', 'Task {'],
    deadline: 'request.timeoutInterval = 10',
  },
  {
    sdk: 'Flutter',
    lang: 'dart',
    version: /iadvize_flutter_sdk` plugin \*\*2\.17\.2\*\*/,
    api: ['AuthenticationOption.secured(', 'onJweRequested: () => fetchIAdvizeToken(', 'Future<String> fetchIAdvizeToken(', 'IAdvizeSdk.activate('],
    failure: ['if (response.statusCode != 200) throw IAdvizeTokenException(response.statusCode);'],
    async: ['await http', '.post('],
    deadline: '.timeout(const Duration(seconds: 10))',
  },
  {
    sdk: 'React Native',
    lang: 'ts',
    version: /iadvize-react-native-sdk` \*\*5\.0\.0\*\*/,
    api: ['IAdvizeSDKListeners.onJWERequested(', 'IAdvizeSDK.provideJWE(jwe)', 'IAdvizeSDK.activate(', 'IAdvizeSDKListeners.unsetJWEProvider()'],
    failure: ['onTokenError(error)', 'if (response.status !== 200) throw new IAdvizeTokenError(response.status);', 'IAdvizeSDK.logout()'],
    async: ['await fetch(', '.then('],
    deadline: 'signal: deadline.signal',
  },
];

describe('docs/mobile.md', () => {
  it.each(SNIPPETS)('$sdk: the SDK version, the exact API names, a bearer token, asynchronous, a failure path, a deadline', ({ lang, version, api, failure, async: asyncCalls, deadline }) => {
    const code = block(lang);
    expect(code).toContain(deadline);
    expect(doc).toMatch(version);
    for (const name of [...api, ...failure, ...asyncCalls]) expect(code).toContain(name);
    expect(code).toMatch(/Bearer \$\{?accessToken\}?|Bearer \\\(accessToken\)/);
    expect(code).toContain('/iadvize/token');
    // No blocking call on the SDK's thread, and no token kept between calls.
    for (const blocking of ['.execute()', 'runBlocking', 'DispatchSemaphore', '.wait()', 'waitFor(', 'cachedToken']) expect(code).not.toContain(blocking);
  });

  it('React Native: the provider is unset before each activation and on sign-out, never one listener per activation', () => {
    const code = block('ts');
    const activate = code.slice(code.indexOf('export async function activateIAdvize'));
    expect(activate.indexOf('IAdvizeSDKListeners.unsetJWEProvider()')).toBeLessThan(activate.indexOf('IAdvizeSDKListeners.onJWERequested('));
    expect(code.slice(code.indexOf('export async function deactivateIAdvize'))).toContain('IAdvizeSDKListeners.unsetJWEProvider()');
  });

  it('the old synchronous Kotlin fragment is gone from every doc', () => {
    for (const file of ['README.md', 'docs/operations.md', 'docs/mobile.md', 'docs/guide.md', 'docs/sample.md']) {
      expect(readFileSync(ROOT + file, 'utf8')).not.toContain('.execute()');
    }
  });
});
