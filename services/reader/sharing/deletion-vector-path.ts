/**
 * Where a deletion vector stored in a file lives (PROTOCOL.md of
 * delta-io/delta, "Deletion Vector Descriptor Schema"): storage type `u` is
 * a path relative to the table root, `<random prefix><UUID as 20 Z85
 * characters>` naming `<random prefix>/deletion_vector_<uuid>.bin`; type `p`
 * is an absolute path (a URI). `i` (inline) has no file.
 */
import type { DeletionVectorDescriptor } from '../../../shared/delta/index.ts';

const z85Alphabet = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#';
const z85Value = new Map([...z85Alphabet].map((char, index) => [char, index]));

/** 16 bytes from 20 Z85 characters (5 characters → 4 big-endian bytes); undefined when it is not Z85. */
function decodeZ85(text: string): Buffer | undefined {
  if (text.length !== 20) return undefined;
  const bytes = Buffer.alloc(16);
  for (let group = 0; group < 4; group++) {
    let value = 0;
    for (let index = 0; index < 5; index++) {
      const digit = z85Value.get(text[group * 5 + index] as string);
      if (digit === undefined) return undefined;
      value = value * 85 + digit;
    }
    if (value > 0xffffffff) return undefined;
    bytes.writeUInt32BE(value, group * 4);
  }
  return bytes;
}

/**
 * The path of a deletion vector's file as a Delta action path (relative to
 * the table root, or an absolute URI), or undefined for an inline one.
 * Throws when a `u` descriptor's UUID is not Z85 or the type is unknown.
 */
export function deletionVectorPath(dv: DeletionVectorDescriptor): string | undefined {
  if (dv.storageType === 'i') return undefined;
  if (dv.storageType === 'p') return dv.pathOrInlineDv;
  if (dv.storageType !== 'u') throw new Error(`deletion vector storage type ${JSON.stringify(dv.storageType)} is not one of u, p, i`);
  const encoded = dv.pathOrInlineDv;
  const uuid = decodeZ85(encoded.slice(-20));
  if (uuid === undefined) throw new Error(`deletion vector ${JSON.stringify(encoded)} does not end in a Z85 UUID`);
  const hex = uuid.toString('hex');
  const name = `deletion_vector_${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}.bin`;
  const prefix = encoded.slice(0, -20);
  return prefix === '' ? name : `${prefix}/${name}`;
}
