import FlaksConfig

extension ServiceSpec {
    /// The runtime definition of a manifest's `services:` entry (validated and resolved by the
    /// loader: absolute executable and cwd, instances >= 1).
    init(_ c: ServiceConfig) {
        let restart: RestartPolicy = switch c.restart {
        case .always: .always
        case .onFailure: .onFailure
        case .never: .never
        }
        self.init(name: c.name, command: c.command, executable: c.executable, cwd: c.cwd, env: c.env,
                  instances: c.instances, ready: c.ready, readyTimeout: c.readyTimeout, restart: restart,
                  stopSignal: c.stopSignal.number, stopTimeout: c.stopTimeout, log: c.log)
    }

    /// The services of a manifest, in manifest order.
    static func specs(from config: ServerConfig) -> [ServiceSpec] {
        config.services.map(ServiceSpec.init)
    }
}
