/** The environment, read once by the composition root (main.ts, cli.ts) and nowhere else. */
import { resolve } from 'node:path';
import { assertValidPrefix } from './domain/key-format.ts';

/** A value in the environment that cannot be used; the message names the variable. */
export class ConfigError extends Error {}

export interface Config {
  port: number;
  host: string;
  dataDir: string;
  databaseUrl: string | undefined;
  databasePoolSize: number;
  keyPrefix: string;
  usageRetentionDays: number;
  rateLimitPerMinute: number;
  flushIntervalMs: number;
  sweepIntervalMs: number;
  validateResponses: boolean;
  trustProxy: string | undefined;
  bootstrapOrgName: string;
  bootstrapOwnerEmail: string;
}

function int(env: NodeJS.ProcessEnv, name: string, fallback: number, min = 0): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new ConfigError(`${name} must be an integer >= ${min}, got "${raw}".`);
  return n;
}

function keyPrefix(env: NodeJS.ProcessEnv): string {
  const prefix = env['KEY_PREFIX'] || 'hey_';
  try {
    assertValidPrefix(prefix);
  } catch (error) {
    throw new ConfigError(`KEY_PREFIX: ${(error as Error).message}`);
  }
  return prefix;
}

export function readConfig(env: NodeJS.ProcessEnv = process.env): Config {
  return {
    port: int(env, 'PORT', 3000),
    host: env['HOST'] || '127.0.0.1',
    dataDir: resolve(env['DATA_DIR'] || './data'),
    databaseUrl: env['DATABASE_URL'] || undefined,
    databasePoolSize: int(env, 'DATABASE_POOL_SIZE', 10, 1),
    keyPrefix: keyPrefix(env),
    usageRetentionDays: int(env, 'USAGE_RETENTION_DAYS', 30, 1),
    rateLimitPerMinute: int(env, 'RATE_LIMIT_PER_MINUTE', 6000),
    flushIntervalMs: int(env, 'FLUSH_INTERVAL_MS', 1000, 10),
    sweepIntervalMs: int(env, 'SWEEP_INTERVAL_MS', 60_000, 100),
    validateResponses: env['VALIDATE_RESPONSES'] === 'true' || env['VALIDATE_RESPONSES'] === '1',
    trustProxy: env['TRUST_PROXY'] || undefined,
    bootstrapOrgName: env['BOOTSTRAP_ORG_NAME'] || 'My organization',
    bootstrapOwnerEmail: env['BOOTSTRAP_OWNER_EMAIL'] || 'owner@example.com',
  };
}
