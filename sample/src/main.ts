import 'reflect-metadata';
import { createSampleApp } from './sample-app.js';
import { loadSampleConfig, type SampleConfig } from './sample.config.js';

/** Prints the configuration notices; throwaway-key warnings in a loud box on stderr. */
function printNotices(config: SampleConfig): void {
  for (const notice of config.notices) {
    if (notice.loud) {
      const bar = '!'.repeat(78);
      console.warn(['', bar, '!!! WARNING: THROWAWAY DEVELOPMENT KEYS', bar, ...notice.lines.map((l) => `!!! ${l}`), bar, ''].join('\n'));
    } else {
      console.log(notice.lines.join('\n'));
    }
  }
}

async function main(): Promise<void> {
  const config = await loadSampleConfig();
  printNotices(config);
  const app = await createSampleApp(config);
  app.enableShutdownHooks();
  await app.listen(config.port, config.host);
  const address = app.getHttpServer().address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const shownHost = config.host === '127.0.0.1' || config.host === '::1' || config.host === '0.0.0.0' ? 'localhost' : config.host;
  console.log(
    [
      '',
      `Sample app (${config.mode} mode) listening on http://${shownHost}:${port}`,
      `  signing key: ${config.signingKeySource}`,
      `  token endpoint: POST|GET http://${shownHost}:${port}/iadvize/token`,
      'Press Ctrl+C to stop.',
    ].join('\n'),
  );
}

main().catch((e: unknown) => {
  // Startup errors (bad configuration, unreadable key file) name the option, file or variable, never a key.
  console.error(`\nThe sample app could not start:\n${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
