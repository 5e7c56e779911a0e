/**
 * Fails when the committed sdk/src/gen/ differs from what openapi.yaml produces today: regenerates
 * into a temporary folder and compares every file, both ways.
 *
 *   node scripts/check-gen.ts [folder]   compare `folder` instead of sdk/src/gen (for its own test)
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { committedGenDir, generate, repoRoot } from './gen.ts';

async function listFiles(dir: string, base = dir): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  const files: string[] = [];
  for (const entry of entries) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...(await listFiles(full, base)));
    else files.push(relative(base, full));
  }
  return files.sort();
}

function firstDifference(committed: string, fresh: string): string {
  const a = committed.split('\n');
  const b = fresh.split('\n');
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (a[i] !== b[i]) {
      return `    line ${i + 1}\n      committed: ${a[i] ?? '(end of file)'}\n      generated: ${b[i] ?? '(end of file)'}`;
    }
  }
  return '';
}

const genDir = process.argv[2] ?? committedGenDir;
const freshDir = await mkdtemp(join(tmpdir(), 'heykeys-gen-'));
try {
  await generate(freshDir);
  const committedFiles = await listFiles(genDir);
  const freshFiles = await listFiles(freshDir);
  const problems: string[] = [];
  for (const file of freshFiles) {
    if (!committedFiles.includes(file)) {
      problems.push(`  missing from the commit: ${file}`);
      continue;
    }
    const [committed, fresh] = await Promise.all([
      readFile(join(genDir, file), 'utf8'),
      readFile(join(freshDir, file), 'utf8'),
    ]);
    if (committed !== fresh) problems.push(`  differs: ${file}\n${firstDifference(committed, fresh)}`);
  }
  for (const file of committedFiles) {
    if (!freshFiles.includes(file)) problems.push(`  no longer generated: ${file}`);
  }
  const shown = relative(repoRoot, genDir);
  if (problems.length > 0) {
    console.error(
      `${shown}/ is out of date with openapi.yaml (${problems.length} file(s)):\n${problems.join('\n')}\n\n` +
        'Run `npm run gen` and commit the result. Never edit generated files by hand.',
    );
    process.exitCode = 1;
  } else {
    console.log(`${shown}/ matches openapi.yaml (${freshFiles.length} generated files).`);
  }
} finally {
  await rm(freshDir, { recursive: true, force: true });
}
