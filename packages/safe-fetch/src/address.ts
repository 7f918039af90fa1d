import { isIPv4, isIPv6 } from 'node:net'

/**
 * What an IP address is, for deciding whether an outbound request may
 * connect to it:
 * - `public`: globally routable unicast;
 * - `loopback`: `127.0.0.0/8`, `::1`;
 * - `private`: RFC 1918 (`10/8`, `172.16/12`, `192.168/16`), shared address
 *   space (`100.64/10`, RFC 6598), deprecated IPv6 site-local (`fec0::/10`),
 *   local-use NAT64 (`64:ff9b:1::/48`, RFC 8215);
 * - `link_local`: `169.254/16` (cloud metadata services live here), `fe80::/10`;
 * - `unique_local`: `fc00::/7` (RFC 4193);
 * - `multicast`: `224/4`, `ff00::/8`;
 * - `unspecified`: `0.0.0.0/8` ("this network"), `::`;
 * - `reserved`: everything else that is not globally reachable unicast:
 *   documentation, benchmarking, IETF protocol assignments, `240/4`,
 *   broadcast, discard-only, IPv4-compatible IPv6 and IPv6 outside `2000::/3`.
 *
 * @see https://www.iana.org/assignments/iana-ipv4-special-registry/
 * @see https://www.iana.org/assignments/iana-ipv6-special-registry/
 */
export type AddressClass = 'public' | 'private' | 'loopback' | 'link_local' | 'unique_local' | 'multicast' | 'unspecified' | 'reserved'

/** IPv4 ranges that are not public: [first address, prefix length, class]. */
const IPV4_RANGES: ReadonlyArray<readonly [string, number, AddressClass]> = [
  ['0.0.0.0', 8, 'unspecified'],
  ['10.0.0.0', 8, 'private'],
  ['100.64.0.0', 10, 'private'],
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.0.0', 16, 'link_local'],
  ['172.16.0.0', 12, 'private'],
  ['192.0.0.0', 24, 'reserved'],
  ['192.0.2.0', 24, 'reserved'],
  ['192.88.99.0', 24, 'reserved'],
  ['192.168.0.0', 16, 'private'],
  ['198.18.0.0', 15, 'reserved'],
  ['198.51.100.0', 24, 'reserved'],
  ['203.0.113.0', 24, 'reserved'],
  ['224.0.0.0', 4, 'multicast'],
  ['240.0.0.0', 4, 'reserved'],
]

function ipv4ToNumber(address: string): number {
  return address.split('.').reduce((n, part) => n * 256 + Number(part), 0)
}

const IPV4_TABLE = IPV4_RANGES.map(([first, bits, kind]) => ({ first: ipv4ToNumber(first), size: 2 ** (32 - bits), kind }))

function classifyIPv4(value: number): AddressClass {
  for (const range of IPV4_TABLE) if (value >= range.first && value < range.first + range.size) return range.kind
  return 'public'
}

/** The eight 16-bit groups of a valid IPv6 address. */
function ipv6Groups(address: string): number[] {
  let text = address
  const lastColon = text.lastIndexOf(':')
  if (text.includes('.', lastColon)) {
    // A dotted IPv4 tail (`::ffff:1.2.3.4`) stands for the last two groups.
    const v4 = ipv4ToNumber(text.slice(lastColon + 1))
    text = `${text.slice(0, lastColon + 1)}${Math.floor(v4 / 65536).toString(16)}:${(v4 % 65536).toString(16)}`
  }
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)))
  const double = text.indexOf('::')
  if (double === -1) return parse(text)
  const left = parse(text.slice(0, double))
  const right = parse(text.slice(double + 2))
  return [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right]
}

function classifyIPv6(groups: readonly number[]): AddressClass {
  const [g0 = 0, g1 = 0, g2 = 0, g3 = 0, g4 = 0, g5 = 0, g6 = 0, g7 = 0] = groups
  const embedded = () => classifyIPv4(g6 * 65536 + g7)
  if (g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0 && g4 === 0) {
    // ::ffff:a.b.c.d — IPv4-mapped: the socket really talks to the IPv4 address.
    if (g5 === 0xffff) return embedded()
    if (g5 === 0 && g6 === 0 && g7 === 0) return 'unspecified'
    if (g5 === 0 && g6 === 0 && g7 === 1) return 'loopback'
    // ::a.b.c.d (IPv4-compatible, deprecated by RFC 4291 §2.5.5.1) and the rest of ::/8.
    return 'reserved'
  }
  // 64:ff9b::/96 (RFC 6052 NAT64): reaches the embedded IPv4 address.
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0) return embedded()
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 1) return 'private'
  // 2002::/16 (6to4): the IPv4 address is in groups 1 and 2.
  if (g0 === 0x2002) return classifyIPv4(g1 * 65536 + g2)
  if (g0 >= 0xff00) return 'multicast'
  if (g0 >= 0xfe80 && g0 <= 0xfebf) return 'link_local'
  if (g0 >= 0xfec0 && g0 <= 0xfeff) return 'private'
  if (g0 >= 0xfc00 && g0 <= 0xfdff) return 'unique_local'
  // 2001::/23 IETF protocol assignments (Teredo, ORCHID, …), 2001:db8::/32 and 3fff::/20 documentation, 5f00::/16 SRv6.
  if (g0 === 0x2001 && (g1 < 0x200 || g1 === 0xdb8)) return 'reserved'
  if (g0 === 0x3fff && g1 < 0x1000) return 'reserved'
  // Only 2000::/3 is allocated for global unicast (RFC 4291 §2.4).
  if (g0 < 0x2000 || g0 > 0x3fff) return 'reserved'
  return 'public'
}

/**
 * Classifies an IP address (IPv4 dotted quad or IPv6, with or without
 * brackets and zone id). IPv4-mapped (`::ffff:127.0.0.1`), NAT64 and 6to4
 * IPv6 addresses are classified by the IPv4 address they reach. Throws a
 * `TypeError` for a string that is not an IP address.
 */
export function classifyAddress(address: string): AddressClass {
  let text = address
  if (text.startsWith('[') && text.endsWith(']')) text = text.slice(1, -1)
  const zone = text.indexOf('%')
  if (zone !== -1) text = text.slice(0, zone)
  if (isIPv4(text)) return classifyIPv4(ipv4ToNumber(text))
  if (isIPv6(text)) return classifyIPv6(ipv6Groups(text.toLowerCase()))
  throw new TypeError(`classifyAddress: not an IP address: ${JSON.stringify(address).slice(0, 60)}`)
}
