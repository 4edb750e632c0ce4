import FlaksConfig

extension ServiceSpec {
    /// The services of a manifest, or nil while `ServerConfig` has no `services` model (then the
    /// supervisor is driven directly, and a reload leaves the services alone).
    static func specs(from config: ServerConfig) -> [ServiceSpec]? {
        nil
    }
}
