/**
 * PKCS#11 attribute values: decoding a `CK_ULONG`, encoding a `CKA_ID`.
 * @internal
 */

/** A CK_ULONG attribute value (native byte order; little-endian on x64 and arm64). @internal */
export function ulong(value: Buffer): number {
  return value.length >= 4 ? value.readUInt32LE(0) : value[0];
}

/** The bytes of a `CKA_ID` given as hex (`'01'`, `'0xa1:b2'`) or bytes; `undefined` when not hex. @internal */
export function toHex(id: string | Uint8Array): Buffer | undefined {
  if (typeof id !== 'string') return Buffer.from(id);
  const clean = id.replace(/^0x/i, '').replace(/[\s:]/g, '');
  if (clean.length === 0 || clean.length % 2 !== 0 || !/^[0-9a-f]+$/i.test(clean)) return undefined;
  return Buffer.from(clean, 'hex');
}
