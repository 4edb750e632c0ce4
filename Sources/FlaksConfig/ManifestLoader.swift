import Yams

/// Loads `config.yaml` (see `shared/design/config-schema.md`): parse with Yams, walk the nodes
/// keeping each mark, expand `${VAR}`, type and validate every value, and return a frozen
/// `ServerConfig` with absolute paths — or every problem at once as `ManifestErrors`.
///
/// Keys beyond the schema (each documented on its field): `server.drain_timeout`,
/// `server.idle_release`, per host
/// `errors`, per route `headers_always`, per static route `dotfiles` and `types`, per CGI route
/// `pass_authorization`, per redirect `keep_path`, per service `log`.
public enum ManifestLoader {
    static let topKeys = ["server", "limits", "cgi", "log", "tls", "compress", "services", "hosts"]

    /// Reads and validates the file. Relative paths in it resolve against its directory; error
    /// messages name the file as given in `path`.
    public static func load(path: String, environment: [String: String] = ProcessEnvironment.current())
        throws(ManifestErrors) -> ServerConfig {
        let text: String
        switch FileSystem.readFile(path) {
        case .success(let t): text = t
        case .failure(let f):
            throw ManifestErrors([ManifestError(file: path, line: 0, column: 0, keyPath: "", message: f.message)])
        }
        let absolute = FileSystem.resolve(path, against: FileSystem.currentDirectory())
        var config = try load(yaml: text, file: path, directory: FileSystem.directory(of: absolute), environment: environment)
        config.sourceFile = absolute
        return config
    }

    /// For tests: YAML text, the file name used in messages, and the directory relative paths
    /// resolve against.
    public static func load(yaml: String, file: String, directory: String,
                            environment: [String: String]) throws(ManifestErrors) -> ServerConfig {
        let reader = ManifestReader(file: file, directory: directory, environment: environment)
        let root: Node
        do {
            guard let node = try compose(yaml: yaml) else {
                reader.report(nil as Mark?, "", "the manifest is empty; expected a mapping with a \"hosts\" list")
                throw ManifestErrors(reader.sortedErrors)
            }
            root = node
        } catch let errors as ManifestErrors {
            throw errors
        } catch {
            let (position, message) = describe(yamlError: error, yaml: yaml)
            reader.report(line: position.line, column: position.column, "", message)
            throw ManifestErrors(reader.sortedErrors)
        }

        var config = ServerConfig()
        if let f = reader.fields(root, "", keys: topKeys, what: "a mapping with keys \(topKeys.joined(separator: ", "))") {
            if let n = f["server"] { config.server = reader.server(n) }
            if let n = f["limits"] { config.limits = reader.limits(n) }
            if let n = f["cgi"] { config.cgi = reader.cgi(n) }
            if let n = f["log"] { config.log = reader.log(n) }
            if let n = f["tls"] { config.tls = reader.tls(n) }
            if let n = f["compress"] { config.compress = reader.compress(n) }
            var serviceNames: [String] = []
            if let n = f["services"] { config.services = reader.services(n, names: &serviceNames) }
            config.hosts = reader.hosts(f["hosts"], root: root)
            reader.checkServiceReferences(known: serviceNames)
            reader.checkTLS(settings: config.tls, tlsListen: config.server.tlsListen)
        }
        guard reader.errors.isEmpty else { throw ManifestErrors(reader.sortedErrors) }
        config.warnings = reader.sortedWarnings
        return config
    }

    /// A Yams error as a 1-based position and a one-line message.
    static func describe(yamlError error: any Error, yaml: String) -> ((line: Int, column: Int), String) {
        guard let e = error as? YamlError else { return ((1, 1), "invalid YAML: \(error)") }
        switch e {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            let ctx = context.map { " (\($0.text) at \($0.mark.line):\($0.mark.column))" } ?? ""
            return ((mark.line, mark.column), "invalid YAML: \(problem)\(ctx)")
        case .duplicatedKeysInMapping(let duplicates, let context):
            // Yams marks the first occurrence.
            let keys = duplicates.map { "\"\($0)\"" }.joined(separator: ", ")
            let verb = duplicates.count == 1 ? "appears" : "appear"
            return ((context.mark.line, context.mark.column), "invalid YAML: key \(keys) \(verb) more than once in this mapping")
        case .reader(let problem, let offset, _, _):
            return (position(atCharacterOffset: offset ?? 0, in: yaml), "invalid YAML: \(problem)")
        default:
            return ((1, 1), "invalid YAML: \(e)")
        }
    }

    private static func position(atCharacterOffset offset: Int, in text: String) -> (line: Int, column: Int) {
        var line = 1, column = 1
        for c in text.prefix(offset) { if c == "\n" { line += 1; column = 1 } else { column += 1 } }
        return (line, column)
    }
}
