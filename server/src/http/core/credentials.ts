/** Reading the API key from the Authorization header(s). Portable: the MSW mocks use it too. */
import { DomainError } from '../../domain/errors.ts';
import type { AuthScheme } from '../../domain/model.ts';

export interface PresentedCredential {
  scheme: AuthScheme;
  secret: string;
}

const NO_CREDENTIALS = 'No API key: send Authorization: Bearer <key>, or HTTP Basic with any username and the key as the password.';

function decodeBase64Utf8(value: string): string | null {
  try {
    const binary = atob(value);
    return new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(binary, (c) => c.charCodeAt(0)));
  } catch {
    return null;
  }
}

/**
 * `values` are every Authorization header the request carried. Two of them (e.g. Bearer and
 * Basic) is a 400 (RFC 6750 §2: one method per request).
 */
export function parseAuthorization(values: readonly string[]): PresentedCredential {
  if (values.length > 1) throw new DomainError('invalid_request', 'Send the API key once: either Bearer or Basic, not both.');
  const header = values[0];
  if (!header) throw new DomainError('unauthorized', NO_CREDENTIALS);
  const space = header.indexOf(' ');
  const scheme = (space === -1 ? header : header.slice(0, space)).toLowerCase();
  const value = space === -1 ? '' : header.slice(space + 1).trim();
  if (scheme === 'bearer') {
    if (!value) throw new DomainError('unauthorized', NO_CREDENTIALS);
    return { scheme: 'bearer', secret: value };
  }
  if (scheme === 'basic') {
    const decoded = value ? decodeBase64Utf8(value) : null;
    const colon = decoded?.indexOf(':') ?? -1;
    if (decoded === null || colon === -1) {
      throw new DomainError('malformed_key', 'The Basic credentials must be base64 of "username:key" (any username, the API key as the password).');
    }
    return { scheme: 'basic', secret: decoded.slice(colon + 1) };
  }
  // Never echo the header: a key sent without a scheme would end up in the error body.
  throw new DomainError('unauthorized', `Unsupported authorization scheme. ${NO_CREDENTIALS}`);
}
