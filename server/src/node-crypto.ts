/** The domain's crypto port on Node: native SHA-256, zlib's CRC32, the OS CSPRNG. */
import { hash, randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';
import type { CryptoPort } from './domain/crypto.ts';

export const nodeCrypto: CryptoPort = {
  // One-shot: a third of createHash().update().digest()'s cost, and it runs once per request.
  sha256Hex: (input) => hash('sha256', input, 'hex'),
  crc32: (input) => crc32(input),
  randomBytes: (length) => randomBytes(length),
};
