/**
 * The generated SDK code stays what openapi.yaml produces: the same check as `npm run check:gen`,
 * run here so that `npm test` (and CI) fails on drift, plus proof that the check does fail.
 */
import { execFile } from 'node:child_process';
import { appendFileSync, cpSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const GEN_DIR = join(ROOT, 'sdk', 'src', 'gen');
const CHECK = join(ROOT, 'scripts', 'check-gen.ts');

async function checkGen(dir?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CHECK, ...(dir ? [dir] : [])], { cwd: ROOT });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const { code, stdout, stderr } = error as { code: number; stdout: string; stderr: string };
    return { code, stdout, stderr };
  }
}

describe('generated SDK code', () => {
  it('the committed sdk/src/gen matches what openapi.yaml produces', async () => {
    const result = await checkGen();
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/sdk\/src\/gen\/ matches openapi\.yaml \(\d+ generated files\)/);
  });

  it('the check fails, naming each file, when generated code was edited, removed or left behind', async () => {
    const copy = mkdtempSync(join(tmpdir(), 'heykeys-gen-copy-'));
    try {
      cpSync(GEN_DIR, copy, { recursive: true });
      appendFileSync(join(copy, 'operations.gen.ts'), '// edited by hand\n');
      unlinkSync(join(copy, 'hey-api', 'core', 'params.gen.ts'));
      writeFileSync(join(copy, 'stale.gen.ts'), 'export {};\n');
      const result = await checkGen(copy);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('is out of date with openapi.yaml (3 file(s))');
      expect(result.stderr).toContain('differs: operations.gen.ts');
      expect(result.stderr).toContain('committed: // edited by hand');
      expect(result.stderr).toContain('missing from the commit: hey-api/core/params.gen.ts');
      expect(result.stderr).toContain('no longer generated: stale.gen.ts');
      expect(result.stderr).toContain('Run `npm run gen` and commit the result.');
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });

  it('every generated file says it is generated', () => {
    const files = ['operations.gen.ts', 'openapi-typescript.gen.ts', 'hey-api/sdk.gen.ts', 'hey-api/types.gen.ts', 'hey-api/client/client.gen.ts'];
    for (const file of files) expect(readFileSync(join(GEN_DIR, file), 'utf8').slice(0, 200)).toMatch(/auto-generated/);
  });
});
