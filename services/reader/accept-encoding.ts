/**
 * Accept-Encoding (RFC 9110 section 12.5.3), for the one choice the reader
 * makes: send a body kept as gzip as it is, or decompress it. Parsed by
 * hand: Fastify has no negotiator and none is a dependency here; the
 * grammar is a list of codings with a weight.
 */

export interface CodingWeight {
  /** lower case; `*` stands for any coding not listed */
  readonly coding: string;
  /** 0 (refused) to 1 */
  readonly weight: number;
}

/** qvalue: "0" to "1" with at most three decimals (RFC 9110 section 12.4.2). */
const qvalue = /^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/;
const token = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;

/** The codings listed, in order; a malformed member (bad token or weight) is skipped, as if not listed. */
export function parseAcceptEncoding(header: string): CodingWeight[] {
  const codings: CodingWeight[] = [];
  for (const member of header.split(',')) {
    const [rawCoding = '', ...params] = member.split(';');
    const coding = rawCoding.trim().toLowerCase();
    if (coding === '') continue;
    if (!token.test(coding)) continue;
    let weight = 1;
    let malformed = false;
    for (const param of params) {
      const [name = '', value = ''] = param.trim().split('=', 2);
      if (name.toLowerCase() !== 'q') continue;
      if (!qvalue.test(value)) malformed = true;
      else weight = Number(value);
    }
    if (!malformed) codings.push({ coding, weight });
  }
  return codings;
}

/**
 * Send gzip? Only when the client asks: no header gets identity (what every
 * client reads), an empty one too (RFC: no coding wanted). Otherwise gzip's
 * weight (x-gzip is the same coding; else `*`'s) must be above 0 and at
 * least identity's (else `*`'s; an unlisted identity ranks below every
 * listed coding), so a client preferring identity gets it.
 */
export function acceptsGzip(acceptEncoding: string | undefined): boolean {
  if (acceptEncoding === undefined) return false;
  const codings = parseAcceptEncoding(acceptEncoding);
  const weightOf = (coding: string): number | undefined => codings.find((entry) => entry.coding === coding)?.weight;
  const any = weightOf('*');
  const gzip = weightOf('gzip') ?? weightOf('x-gzip') ?? any ?? 0;
  const identity = weightOf('identity') ?? any ?? 0;
  return gzip > 0 && gzip >= identity;
}

export const arrowMediaType = 'application/vnd.apache.arrow.stream';

/**
 * Answer a file list in Arrow? When Accept (RFC 9110 section 12.5.1) names
 * the Arrow stream type with a weight above 0 and at least NDJSON's (which
 * `*` ranges stand for when NDJSON is not named); never by a range alone, so
 * a client that names nothing keeps NDJSON.
 */
export function acceptsArrow(accept: string | undefined): boolean {
  if (accept === undefined) return false;
  const weights = parseAcceptEncoding(accept.replaceAll('/', '_'));
  const weightOf = (type: string): number | undefined => weights.find((entry) => entry.coding === type.replace('/', '_'))?.weight;
  const arrow = weightOf(arrowMediaType) ?? 0;
  const ndjson = weightOf('application/x-ndjson') ?? weightOf('application/*') ?? weightOf('*/*') ?? 0;
  return arrow > 0 && arrow >= ndjson;
}
