/// An address block: a network address and a prefix length, as in `10.0.0.0/8` or `2001:db8::/32`
/// (RFC 4632 §3.1, RFC 4291 §2.3).
///
/// Parsing decisions:
/// - A bare address is a single host: `/32` for IPv4, `/128` for IPv6.
/// - The prefix is 0-32 (IPv4) or 0-128 (IPv6), decimal, no sign, no leading zeros, no spaces.
/// - Host bits set (`10.0.0.1/8`) is an error that names the network meant (`10.0.0.0/8`), rather
///   than silently masking: in an allow list the spelling is more likely a typo for `/32` than a
///   wish for the whole `/8`, and the two differ by sixteen million addresses.
/// - An IPv4-mapped IPv6 block (`::ffff:10.0.0.0/104`) is the IPv4 block `10.0.0.0/8`, matching the
///   way addresses are normalised (see `IPAddress`).
/// - Families are separate: `::/0` contains every IPv6 address and no IPv4 one; allowing everybody
///   takes `0.0.0.0/0` and `::/0`.
public struct CIDR: Sendable, Hashable, CustomStringConvertible {
    /// The first address of the block (host bits zero).
    public let network: IPAddress
    /// The prefix length, in bits of the network's own family.
    public let prefix: Int
    @usableFromInline let maskHigh: UInt64
    @usableFromInline let maskLow: UInt64

    /// A block from an address and a prefix; throws when the prefix is out of range for the family or
    /// the address has bits set after the prefix.
    public init(network: IPAddress, prefix: Int) throws(AddressRuleError) {
        let text = "\(network)/\(prefix)"
        guard prefix >= 0, prefix <= (network.isV4 ? 32 : 128) else { throw .invalidPrefix(text) }
        let masked = network.masked(toPrefix: prefix)
        guard masked == network else { throw .hostBitsSet(text, network: "\(masked)/\(prefix)") }
        self.network = network
        self.prefix = prefix
        (maskHigh, maskLow) = IPAddress.mask(prefix: prefix, isV4: network.isV4)
    }

    /// Parses `ADDRESS` or `ADDRESS/PREFIX` (see the type's notes for what is refused).
    public init(parsing text: String) throws(AddressRuleError) {
        let slash = text.utf8.firstIndex(of: 0x2F)
        let addressText = slash.map { String(text[..<$0]) } ?? text
        guard let address = IPAddress(addressText) else { throw .invalidAddress(text) }
        let writtenAsV6 = addressText.utf8.contains(0x3A)
        var prefix = writtenAsV6 ? 128 : 32
        if let slash {
            let digits = text.utf8[text.utf8.index(after: slash)...]
            guard !digits.isEmpty, digits.count <= 3, digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                  digits.count == 1 || digits.first != 0x30
            else { throw .invalidPrefix(text) }
            prefix = digits.reduce(0) { $0 * 10 + Int($1 - 0x30) }
            guard prefix <= (writtenAsV6 ? 128 : 32) else { throw .invalidPrefix(text) }
        }
        if writtenAsV6 && address.isV4 {
            // IPv4-mapped: the low 32 bits are the IPv4 block; a prefix shorter than 96 would reach
            // into the ::ffff: part, which always has host bits set for such an address.
            guard prefix >= 96 else {
                let net = IPAddress(rawV6High: 0, low: 0xFFFF_0000_0000 | address.low).masked(toPrefix: prefix)
                throw .hostBitsSet(text, network: "\(net)/\(prefix)")
            }
            prefix -= 96
        }
        do {
            try self.init(network: address, prefix: prefix)
        } catch .hostBitsSet(_, let network) {
            throw .hostBitsSet(text, network: network)
        } catch {
            throw .invalidPrefix(text)
        }
    }

    /// Whether `address` is inside the block (same family, same first `prefix` bits).
    @inlinable
    public func contains(_ address: IPAddress) -> Bool {
        address.isV4 == network.isV4
            && (address.high ^ network.high) & maskHigh == 0
            && (address.low ^ network.low) & maskLow == 0
    }

    public var description: String { "\(network)/\(prefix)" }
}

/// Why an address or block in the manifest was refused; the description is the message the
/// manifest loader puts after the key's file:line:col.
public enum AddressRuleError: Error, Equatable, CustomStringConvertible {
    /// Not an IPv4 or IPv6 address.
    case invalidAddress(String)
    /// A prefix that is not a number in range for the family.
    case invalidPrefix(String)
    /// Bits set after the prefix; `network` is the block that was probably meant.
    case hostBitsSet(String, network: String)

    public var description: String {
        switch self {
        case .invalidAddress(let t): "\"\(t)\" is not an IPv4 or IPv6 address or CIDR block"
        case .invalidPrefix(let t): "\"\(t)\" has an invalid prefix length (0-32 for IPv4, 0-128 for IPv6)"
        case .hostBitsSet(let t, let n): "\"\(t)\" has bits set after the prefix length (did you mean \(n)?)"
        }
    }
}

/// A list of blocks (`allow`, `server.trusted_proxies`) with a membership test that is a short scan
/// of two flat arrays, one per family: no allocation, two XOR-and-mask steps per IPv6 entry.
///
/// Lists in manifests are short (a handful of blocks); a linear scan over contiguous memory beats a
/// trie at that size. An empty list contains nothing.
public struct AddressList: Sendable, Hashable, CustomStringConvertible {
    /// The blocks, in manifest order.
    public let entries: [CIDR]
    // IPv4 blocks as (network, mask) in the low 32 bits; IPv6 blocks as (high, low, maskHigh, maskLow).
    private let v4: [V4Block]
    private let v6: [V6Block]

    private struct V4Block: Sendable, Hashable { var network: UInt32; var mask: UInt32 }
    private struct V6Block: Sendable, Hashable { var high: UInt64; var low: UInt64; var maskHigh: UInt64; var maskLow: UInt64 }

    /// The empty list: contains no address (the default of `server.trusted_proxies`).
    public static let empty = AddressList([])

    /// A list of blocks.
    public init(_ entries: [CIDR]) {
        self.entries = entries
        v4 = entries.filter(\.network.isV4).map {
            V4Block(network: UInt32(truncatingIfNeeded: $0.network.low), mask: UInt32(truncatingIfNeeded: $0.maskLow))
        }
        v6 = entries.filter { !$0.network.isV4 }.map {
            V6Block(high: $0.network.high, low: $0.network.low, maskHigh: $0.maskHigh, maskLow: $0.maskLow)
        }
    }

    /// Parses every entry (see `CIDR.init(parsing:)`); throws the first entry's error. A loader that
    /// wants each entry's own file:line:col parses them one by one with `CIDR(parsing:)` instead.
    public init(parsing texts: [String]) throws(AddressRuleError) {
        var list: [CIDR] = []
        list.reserveCapacity(texts.count)
        for t in texts { list.append(try CIDR(parsing: t)) }
        self.init(list)
    }

    /// Whether there are no blocks.
    public var isEmpty: Bool { entries.isEmpty }

    /// Whether some block contains `address`.
    public func contains(_ address: IPAddress) -> Bool {
        if address.isV4 {
            let a = UInt32(truncatingIfNeeded: address.low)
            for b in v4 where (a ^ b.network) & b.mask == 0 { return true }
            return false
        }
        for b in v6 where (address.high ^ b.high) & b.maskHigh == 0 && (address.low ^ b.low) & b.maskLow == 0 {
            return true
        }
        return false
    }

    public var description: String { "[" + entries.map(\.description).joined(separator: ", ") + "]" }
}
