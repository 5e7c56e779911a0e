/**
 * Checking a secret: the same rules serve authentication (first failure becomes a 401) and
 * `verify` (every failure is reported as a value).
 */
import { DAY, iso } from './clock.ts';
import type { Credential, Policy } from './model.ts';

export type VerifyCode =
  | 'VALID'
  | 'MALFORMED'
  | 'NOT_FOUND'
  | 'EXPIRED'
  | 'DISABLED'
  | 'REVOKED'
  | 'INSUFFICIENT_SCOPE'
  | 'WORKSPACE_FORBIDDEN';

export interface FailedCheck {
  code: Exclude<VerifyCode, 'VALID'>;
  /** The matching error code when this failure ends authentication. */
  error: 'key_revoked' | 'key_expired' | 'secret_rotated' | 'key_disabled';
  detail: string;
}

/** The instant after which a key counts as inactive under the policy, or null when the rule is off. */
export function inactiveAfter(credential: Credential, policy: Policy): number | null {
  if (policy.inactivity_days === null) return null;
  const key = credential.key;
  const base = Math.max(key.last_used_at ?? 0, key.inactivity_from);
  return base + policy.inactivity_days * DAY;
}

export function isInactive(credential: Credential, policy: Policy, now: number): boolean {
  const after = inactiveAfter(credential, policy);
  return after !== null && credential.key.status === 'active' && now >= after;
}

/** Lifecycle checks on a found credential, most decisive first. Scope checks are the caller's. */
export function lifecycleFailures(credential: Credential, policy: Policy, now: number): FailedCheck[] {
  const { key } = credential;
  const failures: FailedCheck[] = [];
  if (key.status === 'revoked') {
    failures.push({ code: 'REVOKED', error: 'key_revoked', detail: `The API key was revoked on ${iso(key.revoked_at ?? key.updated_at)}.` });
    return failures;
  }
  if (credential.secret === 'retired' || (credential.secret === 'previous' && now >= (key.prev_expires_at ?? 0))) {
    const when = credential.secret === 'previous' && key.prev_expires_at !== null ? ` on ${iso(key.prev_expires_at)}` : '';
    failures.push({
      code: 'EXPIRED',
      error: 'secret_rotated',
      detail: `This secret was replaced by a rotation and its grace period ended${when}; use the key's new secret.`,
    });
  }
  if (key.expires_at !== null && now >= key.expires_at) {
    failures.push({ code: 'EXPIRED', error: 'key_expired', detail: `The API key expired on ${iso(key.expires_at)}.` });
  }
  if (key.status === 'disabled') {
    const detail =
      key.disabled_reason === 'inactivity'
        ? `The API key was disabled after ${policy.inactivity_days ?? 'the policy\'s'} days without use; an owner can enable it again.`
        : `The API key was disabled on ${iso(key.updated_at)}; enable it to use it again.`;
    failures.push({ code: 'DISABLED', error: 'key_disabled', detail });
  } else if (isInactive(credential, policy, now)) {
    failures.push({
      code: 'DISABLED',
      error: 'key_disabled',
      detail: `The API key was disabled after ${policy.inactivity_days} days without use; an owner can enable it again.`,
    });
  }
  return failures;
}
