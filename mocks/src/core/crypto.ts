/**
 * The domain's CryptoPort without Node: @noble/hashes' synchronous SHA-256 (WebCrypto's digest is
 * async, and the domain hashes on the request path), the domain's portable CRC32, and
 * `crypto.getRandomValues`, which browsers, workers and Node all have.
 *
 * While fixtures are seeded the random source is a fixed stream instead, so every id the domain
 * mints for them is the same on every reset and in every run (README documents them).
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import { crc32, type CryptoPort } from '../../../server/src/domain/crypto.ts';

export interface MockCrypto extends CryptoPort {
  /** Runs `seeding` with a deterministic random stream derived from `seed`, then restores the CSPRNG. */
  deterministic<T>(seed: string, seeding: () => Promise<T>): Promise<T>;
}

function secureRandomBytes(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  // getRandomValues fills at most 65536 bytes per call.
  for (let offset = 0; offset < length; offset += 65536) {
    globalThis.crypto.getRandomValues(bytes.subarray(offset, Math.min(length, offset + 65536)));
  }
  return bytes;
}

/** SHA-256 in counter mode over `seed`: reproducible bytes, good enough to make ids, never secrets. */
function streamFrom(seed: string): (length: number) => Uint8Array {
  let counter = 0;
  let buffer = new Uint8Array(0);
  return (length) => {
    while (buffer.length < length) {
      const block = sha256(utf8ToBytes(`${seed}:${counter++}`));
      const next = new Uint8Array(buffer.length + block.length);
      next.set(buffer);
      next.set(block, buffer.length);
      buffer = next;
    }
    const out = buffer.slice(0, length);
    buffer = buffer.slice(length);
    return out;
  };
}

export function createMockCrypto(): MockCrypto {
  let random: (length: number) => Uint8Array = secureRandomBytes;
  return {
    sha256Hex: (input) => bytesToHex(sha256(utf8ToBytes(input))),
    crc32,
    randomBytes: (length) => random(length),
    async deterministic(seed, seeding) {
      random = streamFrom(seed);
      try {
        return await seeding();
      } finally {
        random = secureRandomBytes;
      }
    },
  };
}
