// Checks (or, with --update, rewrites) the committed API reports in api/:
// one report per entry point of package.json's exports map, made by
// API Extractor from the built declarations in dist/. `npm test` runs the
// check, so any change to the public surface shows up in review as a diff
// of api/*.api.md. Run `npm run api:update` after an intended change.
import { readFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Extractor, ExtractorConfig, ExtractorLogLevel } from '@microsoft/api-extractor';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const update = process.argv.includes('--update');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

/** `./aws-kms` → `aws-kms`, `.` → `index`, `./config/env` → `config-env`. */
const reportName = (subpath) => (subpath === '.' ? 'index' : subpath.slice(2).replaceAll('/', '-'));

const entries = Object.entries(pkg.exports).filter(([, target]) => typeof target === 'object' && target.types);
let failed = 0;
mkdirSync(join(root, 'api'), { recursive: true });
for (const [subpath, target] of entries) {
  const name = reportName(subpath);
  const config = ExtractorConfig.prepare({
    configObject: {
      projectFolder: root,
      mainEntryPointFilePath: join(root, target.types),
      compiler: { tsconfigFilePath: join(root, 'tsconfig.build.json') },
      apiReport: {
        enabled: true,
        reportFolder: join(root, 'api'),
        reportTempFolder: join(tmpdir(), `nestjs-iadvize-auth-api-${process.pid}`),
        reportFileName: `${name}.api.md`,
      },
      docModel: { enabled: false },
      dtsRollup: { enabled: false },
      tsdocMetadata: { enabled: false },
      messages: {
        compilerMessageReporting: { default: { logLevel: ExtractorLogLevel.Warning } },
        extractorMessageReporting: {
          default: { logLevel: ExtractorLogLevel.Warning },
          // Every export states its release stage (@public, @beta, @alpha).
          'ae-missing-release-tag': { logLevel: ExtractorLogLevel.Error, addToApiReportFile: false },
          // Types reachable from the API but not exported are listed in the report instead of failing.
          'ae-undocumented': { logLevel: ExtractorLogLevel.None, addToApiReportFile: true },
          'ae-unresolved-link': { logLevel: ExtractorLogLevel.None },
          'ae-forgotten-export': { logLevel: ExtractorLogLevel.None, addToApiReportFile: true },
        },
        tsdocMessageReporting: { default: { logLevel: ExtractorLogLevel.None } },
      },
    },
    configObjectFullPath: join(root, 'api', `${name}.api-extractor.json`),
    packageJsonFullPath: join(root, 'package.json'),
  });
  const result = Extractor.invoke(config, { localBuild: update, showVerboseMessages: false });
  const ok = result.succeeded && (update || !result.apiReportChanged);
  if (!ok) failed++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${subpath} -> api/${name}.api.md${result.apiReportChanged ? (update ? ' (updated)' : ' (differs from the committed report)') : ''}`);
}
if (failed) {
  console.error(`\n${failed} entry point(s) changed their public API or broke a rule. If the change is intended, run \`npm run api:update\` and commit api/*.api.md.`);
  process.exit(1);
}
