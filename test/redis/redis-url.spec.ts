/**
 * The store's `url` option is read with the WHATWG URL parser before ioredis
 * sees it: what it accepts, what it refuses (ambiguous credentials, a port
 * left unexpanded, a bad percent-encoding) and that no refusal shows the
 * password. The encoded form is proven against a real server in
 * redis-url.e2e.spec.ts.
 */
import { IAdvizeAuthEvents, InvalidOptionsError } from '../../lib/index.js';
import { RedisTokenStore } from '../../lib/redis/index.js';
import { parseRedisUrl, urlForMessage } from '../../lib/redis/redis-url.js';

const SECRET = 'a-test-secret-of-at-least-thirty-two-bytes!';

describe('the Redis url option', () => {
  it.each([
    ['redis://127.0.0.1', { host: '127.0.0.1', port: 6379 }],
    ['redis://cache.internal:6380/2', { host: 'cache.internal', port: 6380, db: 2 }],
    ['redis://:p%23ss%2Fw%3Frd%40x@cache:6379', { host: 'cache', port: 6379, password: 'p#ss/w?rd@x' }],
    ['redis://app-user:s3cr%3At@cache:6379/0', { host: 'cache', port: 6379, username: 'app-user', password: 's3cr:t', db: 0 }],
    ['rediss://cache.example.com:6380', { host: 'cache.example.com', port: 6380, tls: {} }],
    ['redis://[::1]:7000', { host: '::1', port: 7000 }],
  ])('%s is read as its parts', (url, options) => {
    expect(parseRedisUrl(url)).toEqual({ options });
  });

  it.each([
    // Unencoded reserved characters in the password: ioredis' legacy parser would connect elsewhere without it.
    ['redis://:hunter#2pass@cache:6379', 'hunter#2pass', /redis:\/\/:<password hidden>@cache:6379 is not a valid URL/],
    ['redis://:12#hunter2@cache:6379', 'hunter2', /redis:\/\/:<password hidden>@cache:6379 (is not a valid URL|is ambiguous)/],
    ['redis://user:hun/ter2@cache:6379', 'hun/ter2', /redis:\/\/user:<password hidden>@cache:6379 is not a valid URL/],
    ['redis://:hun?ter2@cache:6379', 'hun?ter2', /is not a valid URL/],
    ['redis://:55?ter2@cache:6379', 'ter2', /is not a valid URL|has no host|holds a "\?"/],
    ['redis://:hunter2@cache:${REDIS_PORT}', 'hunter2', /redis:\/\/:<password hidden>@cache:\$\{REDIS_PORT\} is not a valid URL: the port must be a number/],
    ['redis://:hunter%zz2@cache:6379', 'hunter%zz2', /invalid percent-encoding/],
    ['redis://:hunter2@cache:6379/not-a-db', 'hunter2', /a path other than a database number/],
    ['redis://:hunter2@cache:6379/?family=6', 'hunter2', /holds a "\?".*redisOptions/],
  ])('%s', (url, secret, problem) => {
    const parsed = parseRedisUrl(url) as { problem: string };
    expect(parsed.problem).toMatch(problem);
    expect(parsed.problem).not.toContain(secret);
  });

  it('a store given an ambiguous url fails at startup with the url shown, password hidden', () => {
    const store = new RedisTokenStore({ url: 'redis://admin:s3cret#pw@cache.internal:6379', secret: SECRET });
    const context = { tokenTtlSeconds: 60, issuer: 'https://brand.example', iadvizeKeyThumbprint: 'k', signingTimeoutMs: 1000, clock: Date.now, events: new IAdvizeAuthEvents() };
    let problems: readonly string[] = [];
    try {
      store.open(context);
    } catch (e) {
      expect(e).toBeInstanceOf(InvalidOptionsError);
      problems = (e as InvalidOptionsError).problems;
    }
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain('url: redis://admin:<password hidden>@cache.internal:6379');
    expect(problems.join('\n')).not.toContain('s3cret');
  });

  it('a user-info without a colon is a user name, hidden whole in messages (it may be a password)', () => {
    expect(parseRedisUrl('redis://app-user@cache')).toEqual({ options: { host: 'cache', port: 6379, username: 'app-user' } });
    expect(urlForMessage('redis://hunter2@cache:${PORT}')).toBe('redis://<credentials hidden>@cache:${PORT}');
  });

  it.each([
    // A forgotten host: the password would be read as a port.
    ['redis://default:s3cr3t', 'redis://default:<not a port: hidden>'],
    // ioredis' own parser reads a password from the query: never shown.
    ['redis://cache:6379?password=s3cr3t', 'redis://cache:6379?<query hidden>'],
    ['redis://u:pw@h/0?x=1&password=s3cr3t', 'redis://u:<password hidden>@h/0?<query hidden>'],
    ['redis://h:6379/s3cr3t', 'redis://h:6379/<path hidden>'],
    ['redis://h:6379#s3cr3t', 'redis://h:6379#<fragment hidden>'],
  ])('a refused %s is shown without anything that may be a credential', (url, shown) => {
    expect(urlForMessage(url)).toBe(shown);
    expect((parseRedisUrl(url) as { problem: string }).problem).not.toContain('s3cr3t');
  });

  it('a tab or line break pasted into the url is refused (the URL parser would drop it silently)', () => {
    expect(parseRedisUrl('redis://:p\tw@cache:6379')).toEqual({ problem: expect.stringContaining('holds a control character') });
  });

  it('paths, hosts and ports without credentials are shown as given', () => {
    expect(urlForMessage('redis://cache.internal:${REDIS_PORT}')).toBe('redis://cache.internal:${REDIS_PORT}');
    expect(parseRedisUrl('redis://cache.internal:${REDIS_PORT}')).toEqual({ problem: expect.stringContaining('url: redis://cache.internal:${REDIS_PORT} is not a valid URL') });
  });
});
