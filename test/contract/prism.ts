/**
 * Prism for the contract tests: started through scripts/prism.ts (the very command `npm run mock`
 * and `npm run mock:proxy` run) on a free port, and what its log says about the answers it saw.
 */
import { startPrism, type RunningPrism } from '../../scripts/prism.ts';
import { freePort } from '../support/process.ts';

export async function startPrismMock(): Promise<RunningPrism> {
  return startPrism({ mode: 'mock', port: await freePort() });
}

export async function startPrismProxy(upstream: string): Promise<RunningPrism> {
  return startPrism({ mode: 'proxy', upstream, port: await freePort() });
}

/**
 * Every line of Prism's log that reports an answer outside the contract. With `--errors`, a
 * response that breaks a schema becomes a 500 ("Request terminated with error … VIOLATIONS"), but
 * some response violations are only logged as warnings and passed through (a status code the
 * operation does not declare), so the log is read too. Request violations are not listed: the
 * suite sends requests without credentials on purpose.
 */
export function responseViolations(output: string): string[] {
  return output
    .split('\n')
    .filter((line) => /Violation: response|errors#VIOLATIONS/.test(line))
    .map((line) => line.replace(/\u001b\[[0-9;]*m/g, '').trim());
}
