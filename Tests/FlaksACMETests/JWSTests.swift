import Testing
@testable import FlaksACME
@testable import FlaksTLS

@Suite("JWS, JWK and key authorizations")
struct JWSTests {
    @Test("SHA-256 known answers (FIPS 180-2)")
    func sha256() {
        #expect(Base64URL.encode(Digest.sha256("abc")) == "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0")
        #expect(Base64URL.encode(Digest.sha256("")) == "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU")
    }

    @Test("ES256: 64-byte R||S that verifies, and fails for another message or key")
    func es256() throws {
        let key = try PrivateKey.generate(.ecdsaP256)
        let message = Array("eyJhbGciOiJFUzI1NiJ9.e30".utf8)
        for _ in 0..<20 {   // R or S with leading zero bytes must still be 32 bytes each
            let sig = try key.signES256(message)
            #expect(sig.count == 64)
            #expect(key.verifyES256(sig, of: message))
            #expect(!key.verifyES256(sig, of: message + [0]))
            var flipped = sig
            flipped[10] ^= 1
            #expect(!key.verifyES256(flipped, of: message))
        }
        let other = try PrivateKey.generate(.ecdsaP256)
        #expect(!other.verifyES256(try key.signES256(message), of: message))
        #expect(throws: CertificateError.self) { try PrivateKey.generate(.ecdsaP384).signES256(message) }
        #expect(throws: CertificateError.self) { try ACMEAccountKey(PrivateKey.generate(.rsa(bits: 2048))) }
    }

    @Test("the public key from the JWK coordinates verifies the account key's signatures")
    func jwkRoundTrip() throws {
        let account = try ACMEAccountKey(PrivateKey.generate(.ecdsaP256))
        let x = try #require(account.jwk["x"]?.stringValue.flatMap(Base64URL.decode))
        let y = try #require(account.jwk["y"]?.stringValue.flatMap(Base64URL.decode))
        #expect(x.count == 32 && y.count == 32)
        let pub = try #require(FakeCA.publicKey(x: x, y: y))
        let sig = try account.key.signES256([1, 2, 3])
        #expect(pub.verifyES256(sig, of: [1, 2, 3]))
    }

    @Test("JWK members in RFC 7638 order and the thumbprint over exactly those bytes")
    func thumbprint() throws {
        let account = try ACMEAccountKey(PrivateKey.generate(.ecdsaP256))
        let text = account.jwk.text
        #expect(text.hasPrefix(#"{"crv":"P-256","kty":"EC","x":""#))
        #expect(!text.contains(" "))
        #expect(account.thumbprint == Base64URL.encode(Digest.sha256(text)))
        #expect(account.thumbprint.utf8.count == 43)
        #expect(account.keyAuthorization(token: "tok_en-1") == "tok_en-1." + account.thumbprint)
        #expect(account.keyAuthorizationDigest(token: "t") == Digest.sha256("t." + account.thumbprint))
    }

    @Test("signed body: protected header with alg, jwk or kid, nonce, url; empty payload for POST-as-GET")
    func signedBody() throws {
        let account = try ACMEAccountKey(PrivateKey.generate(.ecdsaP256))
        for (signer, payload) in [(ACMEAccountKey.Signer.jwk, JSONValue.object(["a": .int(1)])), (.kid("https://ca/acct/7"), nil)] {
            let body = try account.signedBody(url: "https://ca/x", nonce: "bm9uY2U", signer: signer, payload: payload)
            let jws = try JSONParser.parse(body)
            let p64 = try #require(jws["protected"]?.stringValue)
            let pl64 = try #require(jws["payload"]?.stringValue)
            let header = try JSONParser.parse(try #require(Base64URL.decode(p64)))
            #expect(header["alg"] == .string("ES256"))
            #expect(header["nonce"] == .string("bm9uY2U"))
            #expect(header["url"] == .string("https://ca/x"))
            switch signer {
            case .jwk: #expect(header["jwk"] == account.jwk); #expect(header["kid"] == nil)
                #expect(pl64 == Base64URL.encode(#"{"a":1}"#))
            case .kid(let k): #expect(header["kid"] == .string(k)); #expect(header["jwk"] == nil)
                #expect(pl64 == "")
            }
            let sig = try #require(jws["signature"]?.stringValue.flatMap(Base64URL.decode))
            #expect(account.key.verifyES256(sig, of: Array((p64 + "." + pl64).utf8)))
            #expect(!p64.contains("=") && !pl64.contains("="))
        }
    }

    @Test("the signing job makes a POST with the JOSE content type and the given headers")
    func signingJob() throws {
        let account = try ACMEAccountKey(PrivateKey.generate(.ecdsaP256))
        let job = ACMECryptoJob.sign(ACMESigningJob(accountKey: account, url: "https://ca/y", nonce: "n", signer: .kid("k"),
                                                    payload: nil, headers: [ACMEHeader("User-Agent", "t")]))
        guard case .signed(let r) = job.run(now: testNow) else { Issue.record("not signed"); return }
        #expect(r.method == .post && r.url == "https://ca/y")
        #expect(r.header("content-type") == "application/jose+json")
        #expect(r.header("User-Agent") == "t")
    }
}
