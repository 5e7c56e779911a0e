/**
 * The primitives the domain needs, injected so the same rules run on the server (node:crypto,
 * zlib.crc32) and in a browser (the MSW mocks: @noble/hashes and a table CRC32).
 */
export interface CryptoPort {
  /** SHA-256 of a UTF-8 string, as lowercase hex. */
  sha256Hex(input: string): string;
  /** CRC32 (IEEE) of an ASCII string. */
  crc32(input: string): number;
  /** Cryptographically secure random bytes. */
  randomBytes(length: number): Uint8Array;
}

/** Compares two strings in time that depends only on their lengths. */
export function constantTimeEqual(a: string, b: string): boolean {
  let diff = a.length ^ b.length;
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) diff |= (a.charCodeAt(i) | 0) ^ (b.charCodeAt(i) | 0);
  return diff === 0;
}

let crcTable: Uint32Array | undefined;

/** Portable CRC32 (IEEE 802.3), equal to zlib.crc32 for ASCII input. */
export function crc32(input: string): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (let i = 0; i < input.length; i++) crc = crcTable[(crc ^ input.charCodeAt(i)) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
