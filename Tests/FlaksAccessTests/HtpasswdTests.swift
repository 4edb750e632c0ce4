import Foundation
import Testing
@testable import FlaksAccess

@Suite struct HtpasswdTests {
    @Test func aRealBcryptFileChecksPasswords() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let path = dir.file("users.htpasswd")
        _ = try run(["htpasswd", "-c", "-b", "-B", "-C", "5", path, "alice", "wonderland"])
        _ = try run(["htpasswd", "-b", "-B", "-C", "5", path, "bob", "builder:can we fix it"])
        let users = try Htpasswd.load(path: path)
        #expect(users.entries.map(\.user) == ["alice", "bob"])
        #expect(users.entries.map(\.scheme) == [.bcrypt(cost: 5), .bcrypt(cost: 5)])
        #expect(users.check(user: "alice", password: "wonderland") == .valid)
        #expect(users.check(user: "alice", password: "Wonderland") == .wrongPassword)
        #expect(users.check(user: "alice", password: "") == .wrongPassword)
        #expect(users.check(user: "bob", password: "builder:can we fix it") == .valid)
        #expect(users.check(user: "bob", password: "wonderland") == .wrongPassword)
        #expect(users.check(user: "carol", password: "wonderland") == .unknownUser)
        #expect(users.check(user: "Alice", password: "wonderland") == .unknownUser)  // names are exact
        #expect(users.check(BasicCredentials(user: "alice", password: "wonderland")) == .valid)
    }

    @Test func bcryptVariantsAndNonASCIIPasswords() throws {
        let line = try bcryptLine("zoë", "pässwörd")  // htpasswd writes $2y$
        #expect(line.contains(":$2y$05$"))
        let users = try Htpasswd(parsing: line + "\n", file: "t")
        #expect(users.check(user: "zoë", password: "pässwörd") == .valid)
        #expect(users.check(user: "zoë", password: "passwörd") == .wrongPassword)
        // $2b$ and $2a$ compute the same hash as $2y$ for these passwords in libxcrypt.
        for variant in ["$2b$", "$2a$"] {
            let same = try Htpasswd(parsing: line.replacingOccurrences(of: "$2y$", with: variant), file: "t")
            #expect(same.check(user: "zoë", password: "pässwörd") == .valid, "\(variant)")
        }
    }

    @Test func sha512CryptHashes() throws {
        let hash = try sha512Hash("correct horse")
        #expect(hash.hasPrefix("$6$"))
        // Drepper's SHA-crypt test vectors: the default rounds and an explicit rounds=.
        let text = """
            carol:\(hash)
            vec1:$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1
            vec2:$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.
            """
        let users = try Htpasswd(parsing: text, file: "t")
        #expect(users.entries.map(\.scheme) == [.sha512Crypt(rounds: 5000), .sha512Crypt(rounds: 5000), .sha512Crypt(rounds: 10000)])
        #expect(users.check(user: "carol", password: "correct horse") == .valid)
        #expect(users.check(user: "carol", password: "correct horse ") == .wrongPassword)
        #expect(users.check(user: "vec1", password: "Hello world!") == .valid)
        #expect(users.check(user: "vec2", password: "Hello world!") == .valid)
        #expect(users.check(user: "vec2", password: "Hello world") == .wrongPassword)
    }

    @Test func anUnknownUserCostsADummyCheckOfTheTypicalScheme() throws {
        let text = try [bcryptLine("a", "1"), bcryptLine("b", "2"), bcryptLine("c", "3", cost: 6)].joined(separator: "\n")
        let users = try Htpasswd(parsing: text, file: "t")
        #expect(users.dummySetting.hasPrefix("$2b$05$"))  // two of three entries are cost 5
        let hasher = CountingHasher()
        #expect(users.check(user: "nobody", password: "x", hasher: hasher) == .unknownUser)
        #expect(hasher.calls == [users.dummySetting])
        // The dummy setting is one crypt really computes (not a cheap failure).
        #expect(Crypt().hash(password: Array("x".utf8), setting: users.dummySetting)?.count == 60)
        // A known user costs exactly one check, with the user's own hash.
        #expect(users.check(user: "c", password: "3", hasher: hasher) == .valid)
        #expect(hasher.calls == [users.dummySetting, users.entries[2].hash])

        // Ties go to the costlier scheme; SHA-512-crypt files get a SHA-512-crypt dummy.
        let tie = try Htpasswd(parsing: [bcryptLine("a", "1"), bcryptLine("c", "3", cost: 6)].joined(separator: "\n"), file: "t")
        #expect(tie.dummySetting.hasPrefix("$2b$06$"))
        let sha = try Htpasswd(parsing: "a:\(try sha512Hash("1"))\nb:\(try sha512Hash("2"))\nc:\(try bcryptLine("x", "y").dropFirst(2))", file: "t")
        #expect(sha.dummySetting.hasPrefix("$6$"))
        #expect(Crypt().hash(password: Array("x".utf8), setting: sha.dummySetting)?.count ?? 0 > 90)
        // An empty file: bcrypt cost 5.
        #expect(try Htpasswd(parsing: "# nobody yet\n", file: "t").dummySetting.hasPrefix("$2b$05$"))
    }

    @Test func theDummyCheckTakesTheTimeOfARealOne() throws {
        // A lower bound only (a loaded machine is slower, never faster): cost 10 is ~1024 key
        // schedules, well over 5 ms on any machine this runs on; an unknown user must not be cheaper.
        let users = try Htpasswd(parsing: try bcryptLine("a", "1", cost: 10), file: "t")
        let clock = ContinuousClock()
        let unknown = clock.measure { _ = users.check(user: "nobody", password: "1") }
        let known = clock.measure { _ = users.check(user: "a", password: "2") }
        #expect(unknown > .milliseconds(5))
        #expect(known > .milliseconds(5))
    }

    @Test func commentsBlankLinesCRLFAndTrailingWhitespace() throws {
        let a = try bcryptLine("alice", "one")
        let b = try bcryptLine("bob", "two")
        let text = "# staff\r\n\r\n  \t\r\n\(a)\r\n   # indented comment\r\n\(b) \t\r\n"
        let users = try Htpasswd(parsing: text, file: "t")
        #expect(users.entries.map(\.user) == ["alice", "bob"])
        #expect(users.entries.map(\.line) == [4, 6])
        #expect(users.check(user: "alice", password: "one") == .valid)
        #expect(users.check(user: "bob", password: "two") == .valid)
        // The same file without a final newline.
        #expect(try Htpasswd(parsing: "\(a)\r\n\(b)", file: "t").check(user: "bob", password: "two") == .valid)
    }

    @Test func aCostAboveFourteenIsRefusedWithItsLine() throws {
        let line = try bcryptLine("root", "pw")  // $2y$05$..., cost digits at a known place
        let cost15 = line.replacingOccurrences(of: "$2y$05$", with: "$2y$15$")
        let cost14 = line.replacingOccurrences(of: "$2y$05$", with: "$2y$14$")
        let other = try bcryptLine("ok", "pw")
        let text = "# admins\n\(other)\n\(cost15)\n"
        #expect(throws: HtpasswdError(file: "site.htpasswd", line: 3, message:
            "user root: bcrypt cost 15 is above 14 (each check would take too long; rehash with htpasswd -B -C 14 or less)")) {
            try Htpasswd(parsing: text, file: "site.htpasswd")
        }
        // Exactly the limit loads.
        #expect(try Htpasswd(parsing: cost14, file: "t").entries.first?.scheme == .bcrypt(cost: 14))
        // And the low end: 4 loads, 3 does not.
        #expect(try Htpasswd(parsing: line.replacingOccurrences(of: "$2y$05$", with: "$2y$04$"), file: "t").entries.count == 1)
        #expect(throws: HtpasswdError.self) { try Htpasswd(parsing: line.replacingOccurrences(of: "$2y$05$", with: "$2y$03$"), file: "t") }
    }

    @Test func sha512RoundsHaveALimitToo() throws {
        let tail = "$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v."
        #expect(try Htpasswd(parsing: "a:$6$rounds=4000000\(tail)", file: "t").entries.first?.scheme == .sha512Crypt(rounds: 4_000_000))
        #expect(throws: HtpasswdError(file: "t", line: 1, message:
            "user a: SHA-512-crypt rounds 4000001 are above 4000000 (each check would take too long)")) {
            try Htpasswd(parsing: "a:$6$rounds=4000001\(tail)", file: "t")
        }
    }

    /// Each weak or unknown scheme, written by the real tool where it can, is refused with its line.
    @Test func weakSchemesAreRefused() throws {
        let good = try bcryptLine("good", "pw")
        let cases: [(String, String)] = [
            (try run(["htpasswd", "-nbm", "weak", "pw"]), "MD5 hashes ($apr1$, $1$) are refused as weak; use htpasswd -B"),
            (try run(["htpasswd", "-nbs", "weak", "pw"]), "SHA-1 hashes ({SHA}) are refused as weak; use htpasswd -B"),
            (try run(["htpasswd", "-nbd", "weak", "pw"]), "DES crypt hashes are refused as weak; use htpasswd -B"),
            (try run(["htpasswd", "-nbp", "weak", "pw"]), "not a bcrypt or SHA-512-crypt hash (plain-text passwords are refused); use htpasswd -B"),
            ("weak:" + (try run(["openssl", "passwd", "-1", "pw"])), "MD5 hashes ($apr1$, $1$) are refused as weak; use htpasswd -B"),
            ("weak:" + (try run(["openssl", "passwd", "-5", "pw"])), "unsupported hash scheme $5$; use htpasswd -B"),
            ("weak:$2x$05$abcdefghijklmnopqrstuuWG29KuyeAicPCJODk1zjyGvyQUU2awu", "unsupported hash scheme $2x$; use htpasswd -B"),
            ("weak:$y$j9T$F5Jx5fExrKuPp53xLKQ..1$X3DX6M94c7o7", "unsupported hash scheme $y$; use htpasswd -B"),
        ]
        for (line, message) in cases {
            let text = good + "\n" + line.trimmingCharacters(in: .whitespacesAndNewlines) + "\n"
            #expect(throws: HtpasswdError(file: "f", line: 2, message: "user weak: " + message), "\(line)") {
                try Htpasswd(parsing: text, file: "f")
            }
        }
    }

    @Test func malformedLinesAreRefused() throws {
        let good = try bcryptLine("good", "pw")
        let hash = String(good.dropFirst("good:".count))
        let cases: [(String, String)] = [
            ("no colon here", "expected user:hash"),
            (":\(hash)", "empty user name"),
            ("good:\(hash)", "user good is already defined on line 1"),
            ("x:\(hash.dropLast())", "user x: malformed bcrypt hash"),
            ("x:\(hash)x", "user x: malformed bcrypt hash"),
            ("x:\(hash.replacingOccurrences(of: "$05$", with: "$5x$"))", "user x: malformed bcrypt hash"),
            ("x:$6$abc$short", "user x: malformed SHA-512-crypt hash"),
            ("x:$6$rounds=$abc$" + String(repeating: "a", count: 86), "user x: malformed SHA-512-crypt rounds"),
            ("x:", "user x: not a bcrypt or SHA-512-crypt hash (plain-text passwords are refused); use htpasswd -B"),
            ("x\u{1}y:\(hash)", "invalid user name"),
        ]
        for (line, message) in cases {
            #expect(throws: HtpasswdError(file: "f", line: 2, message: message), "\(line)") {
                try Htpasswd(parsing: good + "\n" + line, file: "f")
            }
        }
    }

    @Test func unreadableFilesAreLoadErrors() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        #expect(throws: HtpasswdError(file: dir.file("missing"), line: nil, message: "cannot open: No such file or directory")) {
            try Htpasswd.load(path: dir.file("missing"))
        }
        let bad = dir.file("latin1")
        try Data([0x61, 0x3A, 0xE9, 0x0A]).write(to: URL(fileURLWithPath: bad))
        #expect(throws: HtpasswdError(file: bad, line: nil, message: "the file is not valid UTF-8")) {
            try Htpasswd.load(path: bad)
        }
        #expect(throws: HtpasswdError.self) { try Htpasswd.load(path: dir.path) }  // a directory: read fails
        #expect(HtpasswdError(file: "f", line: 3, message: "m").description == "f:3: m")
        #expect(HtpasswdError(file: "f", line: nil, message: "m").description == "f: m")
    }

    @Test func reloadReadsTheFileAgain() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let path = try dir.write("u", try bcryptLine("alice", "old") + "\n")
        let first = try Htpasswd.load(path: path)
        _ = try dir.write("u", try bcryptLine("alice", "new") + "\n")
        let second = try Htpasswd.load(path: path)
        #expect(first.check(user: "alice", password: "old") == .valid)
        #expect(second.check(user: "alice", password: "old") == .wrongPassword)
        #expect(second.check(user: "alice", password: "new") == .valid)
    }

    @Test func longPasswordsAndNULsFailWithoutHashing() throws {
        let long = String(repeating: "p", count: Htpasswd.maxPasswordBytes)
        // bcrypt reads 72 bytes (and htpasswd takes at most 255): hash the first 72.
        let users = try Htpasswd(parsing: try bcryptLine("a", String(long.prefix(72))), file: "t")
        let hasher = CountingHasher()
        #expect(users.check(user: "a", password: long, hasher: hasher) == .valid)  // exactly the limit
        #expect(hasher.calls.count == 1)
        #expect(users.check(user: "a", password: long + "p", hasher: hasher) == .wrongPassword)  // one more
        #expect(users.check(user: "a", password: "p\u{0}", hasher: hasher) == .wrongPassword)
        #expect(users.check(user: "zed", password: long + "p", hasher: hasher) == .unknownUser)
        #expect(hasher.calls.count == 1)
        #expect(Crypt().hash(password: [0x61, 0, 0x62], setting: users.dummySetting) == nil)
    }

    @Test func constantTimeEquality() {
        #expect(Crypt.constantTimeEquals([1, 2, 3], [1, 2, 3]))
        #expect(!Crypt.constantTimeEquals([1, 2, 3], [1, 2, 4]))
        #expect(!Crypt.constantTimeEquals([1, 2, 3], [1, 2]))
        #expect(Crypt.constantTimeEquals([], []))
    }
}
