/** The domain's crypto port on Node: native SHA-256, zlib's CRC32, the OS CSPRNG. */
import { createHash, randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';
import type { CryptoPort } from './domain/crypto.ts';

export const nodeCrypto: CryptoPort = {
  sha256Hex: (input) => createHash('sha256').update(input).digest('hex'),
  crc32: (input) => crc32(input),
  randomBytes: (length) => randomBytes(length),
};
