import FlaksTLS

/// The account key: an ECDSA P-256 key (kept in `storage`), its JWK (RFC 7517, RFC 7518 §6.2),
/// its thumbprint (RFC 7638) and the JWS signing of requests (RFC 8555 §6.2, ES256).
///
/// Immutable; the JWK and thumbprint are computed once in `init`. Signing is crypto: the
/// order machine asks for it with an `ACMECryptoJob` so that it runs on a worker.
public struct ACMEAccountKey: Sendable {
    public let key: PrivateKey
    /// `{"crv":"P-256","kty":"EC","x":"…","y":"…"}`: the required members in lexicographic order,
    /// no whitespace: at once the `jwk` header value and the thumbprint input (RFC 7638 §3.2).
    public let jwk: JSONValue
    /// base64url(SHA-256(jwk)) (RFC 7638 §3.1).
    public let thumbprint: String

    /// Throws for a key that is not ECDSA P-256 (RFC 8555 §6.2 lets servers require ES256 only).
    public init(_ key: PrivateKey) throws(CertificateError) {
        let (x, y) = try key.p256PublicCoordinates()
        self.key = key
        jwk = .object(["crv": .string("P-256"), "kty": .string("EC"),
                       "x": .string(Base64URL.encode(x)), "y": .string(Base64URL.encode(y))])
        thumbprint = Base64URL.encode(Digest.sha256(jwk.serialized))
    }

    /// RFC 8555 §8.1: `token || '.' || base64url(Thumbprint(accountKey))`, the body of an
    /// HTTP-01 response.
    public func keyAuthorization(token: String) -> String { token + "." + thumbprint }

    /// RFC 8737 §3: the SHA-256 of the key authorization, which goes into the acmeIdentifier
    /// extension of the TLS-ALPN-01 certificate.
    public func keyAuthorizationDigest(token: String) -> [UInt8] { Digest.sha256(keyAuthorization(token: token)) }

    /// Who signs: the new-account request carries the key itself, every other one the account
    /// URL (RFC 8555 §6.2: exactly one of `jwk` and `kid`).
    public enum Signer: Sendable, Hashable {
        case jwk
        case kid(String)
    }

    /// A flattened JWS JSON body (RFC 7515 §7.2.2) for `url`: protected header
    /// `{"alg":"ES256",("jwk"|"kid"),"nonce","url"}`, payload base64url of `payload` or the empty
    /// string for POST-as-GET (`payload == nil`, RFC 8555 §6.3).
    public func signedBody(url: String, nonce: String, signer: Signer, payload: JSONValue?) throws(CertificateError) -> [UInt8] {
        var header: [JSONMember] = [JSONMember(name: "alg", value: .string("ES256"))]
        switch signer {
        case .jwk: header.append(JSONMember(name: "jwk", value: jwk))
        case .kid(let kid): header.append(JSONMember(name: "kid", value: .string(kid)))
        }
        header.append(JSONMember(name: "nonce", value: .string(nonce)))
        header.append(JSONMember(name: "url", value: .string(url)))
        let protected64 = Base64URL.encode(JSONValue.object(header).serialized)
        let payload64 = payload.map { Base64URL.encode($0.serialized) } ?? ""
        let signature = try key.signES256(Array((protected64 + "." + payload64).utf8))
        return JSONValue.object(["protected": .string(protected64), "payload": .string(payload64),
                                 "signature": .string(Base64URL.encode(signature))]).serialized
    }
}
