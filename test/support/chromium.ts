/**
 * Debian's Chromium for the browser tests (never a downloaded browser), and the rule when it is
 * missing, the same as for PostgreSQL (test/support/postgres.ts): on a developer's machine the
 * browser suites are skipped and say so, in the report and on the console, so `npm test` passes
 * with Node 24 alone; under CI=true (what .ci/run sets, after installing the package) a missing
 * Chromium fails the suite instead.
 */
import { existsSync } from 'node:fs';

export const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';

/** Headless, and quiet on a machine with no network beyond loopback. */
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

/** The describe title's suffix when the suite cannot run: empty when Chromium is there. */
export function chromiumSkipReason(suite: string): string {
  if (existsSync(CHROMIUM)) return '';
  const why = `Chromium is missing at ${CHROMIUM} (apt-get install -y chromium, Debian's package; no browser is ever downloaded)`;
  if (process.env['CI'] === 'true') throw new Error(`${suite}: ${why}. Under CI=true the browser tests are required.`);
  console.log(`[chromium] skipped "${suite}": ${why}. Under CI=true this is a failure.`);
  return `: skipped because ${why}`;
}
