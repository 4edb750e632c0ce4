import FlaksHTTP
import Testing
@testable import FlaksProxy

/// The in-place name checks (`requestRole`, `isDroppedFromResponses`, `equalsLowercased`) against the
/// name sets they stand for, in every case and with every one-letter change, and the list splitting.
@Suite struct FieldListsTests {
    static let forwardingRoles: [(String, FieldLists.RequestFieldRole)] = [
        ("x-forwarded-for", .forwardedFor), ("x-forwarded-proto", .forwardedProto), ("x-forwarded-host", .forwardedHost),
        ("forwarded", .trustedOnly), ("x-real-ip", .trustedOnly), ("x-forwarded-port", .trustedOnly),
        ("x-forwarded-prefix", .trustedOnly),
    ]

    /// `name` in upper, lower, and alternating case.
    static func casings(_ name: String) -> [String] {
        let alternating = String(name.enumerated().map { $0.offset % 2 == 0 ? Character($0.element.uppercased()) : $0.element })
        return [name, name.uppercased(), alternating]
    }

    /// Every name one byte away from `name` (each position set to each of a few other bytes).
    static func neighbours(_ name: String) -> [String] {
        let bytes = Array(name.utf8)
        var out: [String] = []
        for i in bytes.indices {
            for b in Array("az-09_Z".utf8) where b != bytes[i] && FieldLists.lower(b) != FieldLists.lower(bytes[i]) {
                var m = bytes
                m[i] = b
                out.append(String(decoding: m, as: UTF8.self))
            }
        }
        out.append(name + "x")
        out.append(String(name.dropLast()))
        return out
    }

    @Test func requestRolesMatchTheNameSets() {
        let known = Dictionary(uniqueKeysWithValues: UpstreamRequest.droppedFromRequests.map { ($0, FieldLists.RequestFieldRole.drop) }
            + Self.forwardingRoles)
        for (name, role) in known {
            for spelled in Self.casings(name) {
                #expect(FieldLists.requestRole(spelled) == role, "\(spelled)")
                #expect(UpstreamRequest.isReservedRequestField(spelled) == (role == .drop), "\(spelled)")
            }
            for other in Self.neighbours(name) where known[other.lowercased()] == nil {
                #expect(FieldLists.requestRole(other) == .pass, "\(other)")
            }
        }
        for name in ["Accept", "Cookie", "User-Agent", "Authorization", "Via", "", "X"] {
            #expect(FieldLists.requestRole(name) == .pass, "\(name)")
        }
    }

    @Test func responseDropsMatchTheNameSet() {
        for name in UpstreamResponse.droppedFromResponses {
            for spelled in Self.casings(name) { #expect(FieldLists.isDroppedFromResponses(spelled), "\(spelled)") }
            for other in Self.neighbours(name) where !UpstreamResponse.droppedFromResponses.contains(other.lowercased()) {
                #expect(!FieldLists.isDroppedFromResponses(other), "\(other)")
            }
        }
        for name in ["Content-Type", "Server", "Date", "Set-Cookie", "Proxy-Authorization", ""] {
            #expect(!FieldLists.isDroppedFromResponses(name), "\(name)")
        }
    }

    @Test func equalsLowercasedComparesWholeNames() {
        #expect(FieldLists.equalsLowercased("Host", "host"))
        #expect(FieldLists.equalsLowercased("HOST", "host"))
        #expect(!FieldLists.equalsLowercased("Hos", "host"))
        #expect(!FieldLists.equalsLowercased("Hosts", "host"))
        #expect(!FieldLists.equalsLowercased("Hist", "host"))
        #expect(FieldLists.equalsLowercased("", ""))
        // Only ASCII letters fold: "[" (0x5B) is not "{" (0x7B).
        #expect(!FieldLists.equalsLowercased("[", "{"))
        // A long (not small) string.
        #expect(FieldLists.equalsLowercased("X-A-Very-Long-Field-Name-Indeed", "x-a-very-long-field-name-indeed"))
    }

    @Test func listsSplitOnCommasWithOWSTrimmedAndEmptyElementsSkipped() {
        func split(_ v: String) -> [String] {
            var out: [Substring] = []
            FieldLists.appendElements(of: v, to: &out)
            return out.map(String.init)
        }
        #expect(split("") == [])
        #expect(split(",") == [])
        #expect(split("keep-alive") == ["keep-alive"])
        #expect(split(" a , ,b\t,c ,,") == ["a", "b", "c"])
        #expect(split("\t \t") == [])
        #expect(split("é, x-ü ,y") == ["é", "x-ü", "y"])
        #expect(split("a b, c") == ["a b", "c"])
    }

    @Test func connectionNamesGatherEveryConnectionLine() {
        let h: HeaderFields = ["CONNECTION": "Keep-Alive, X-A", "X-A": "1", "connection": " x-b ,", "Connectio": "x-c"]
        #expect(FieldLists.connectionNames(h).map(String.init) == ["Keep-Alive", "X-A", "x-b"])
        #expect(FieldLists.names(FieldLists.connectionNames(h), contain: "x-a"))
        #expect(FieldLists.names(FieldLists.connectionNames(h), contain: "X-B"))
        #expect(!FieldLists.names(FieldLists.connectionNames(h), contain: "x-c"))
        #expect(FieldLists.connectionNames(["Host": "h"]).isEmpty)
        #expect(!FieldLists.names([], contain: "x"))
    }
}
