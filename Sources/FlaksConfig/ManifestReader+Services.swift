import Yams

/// The top-level `services` list, and the check that every `{service: NAME}` in a route names one.
extension ManifestReader {
    static let serviceKeys = ["name", "command", "cwd", "env", "instances", "ready", "ready_timeout", "restart",
                              "stop_signal", "stop_timeout", "log"]
    /// Environment variables Flaks sets for each instance; `env` may not set them.
    static let serviceVariables = ["PORT", "HOST", "FLAKS_SERVICE", "FLAKS_INSTANCE"]

    /// Reads the list; `names` gets every well-formed name, also of services that failed
    /// otherwise, so a route naming one is not reported twice.
    func services(_ node: Node, names: inout [String]) -> [ServiceConfig] {
        guard let list = items(node, "services") else { return [] }
        var out: [ServiceConfig] = []
        var firstUse: [String: String] = [:]
        for (item, path) in list {
            if let s = service(item, path, firstUse: &firstUse, names: &names) { out.append(s) }
        }
        return out
    }

    private func service(_ node: Node, _ path: String, firstUse: inout [String: String],
                         names: inout [String]) -> ServiceConfig? {
        guard let f = fields(node, path, keys: Self.serviceKeys) else { return nil }
        var ok = true
        var name: String?
        if let n = f["name"] {
            let p = f.path("name")
            let expected = "a service name (lowercase letters, digits, \"_\", \"-\")"
            if let t = text(n, p, expected: expected) {
                if !Self.isServiceName(t) {
                    report(n, p, "expected \(expected), found \"\(t)\""); ok = false
                } else if let first = firstUse[t] {
                    report(n, p, "service name \"\(t)\" is already used by \(first)"); ok = false
                } else {
                    firstUse[t] = path; names.append(t); name = t
                }
            } else { ok = false }
        } else {
            report(node, path, "missing key \"name\""); ok = false
        }

        var command: [String]?, executable: String?, argumentNodes: [(Node, String)] = []
        if let n = f["command"] {
            if let c = commandLine(n, f.path("command")) {
                command = c.argv; executable = c.executable; argumentNodes = c.nodes
            } else { ok = false }
        } else {
            report(node, path, "missing key \"command\" (the program and its arguments, like [\"python3\", \"app.py\"])"); ok = false
        }

        var s = ServiceConfig(name: name ?? "", command: command ?? [], executable: executable ?? "", cwd: directory)
        if let n = f["cwd"] {
            let p = f.path("cwd")
            if let dir = filePath(n, p) {
                switch FileSystem.kind(of: dir) {
                case .directory: s.cwd = dir
                case .missing: report(n, p, "cwd \"\(dir)\" does not exist"); ok = false
                case .other: report(n, p, "cwd \"\(dir)\" is not a directory"); ok = false
                }
            } else { ok = false }
        }
        if let n = f["env"] {
            let list = map(n, f.path("env"), key: { k in
                if !EnvironmentSubstitution.isVariableName(Substring(k)) {
                    return "expected an environment variable name (letters, digits, \"_\"), found \"\(k)\""
                }
                return Self.serviceVariables.contains(k) ? "\"\(k)\" is set by Flaks for each instance" : nil
            }, value: { string($0, $1, nonEmpty: false) })
            if let list { for e in list { s.env[e.key] = e.value } } else { ok = false }
        }
        if let n = f["instances"] { if let v = int(n, f.path("instances"), min: 1) { s.instances = v } else { ok = false } }
        if let n = f["ready"] { if let v = urlPath(n, f.path("ready")) { s.ready = v } else { ok = false } }
        if let n = f["ready_timeout"] { if let v = duration(n, f.path("ready_timeout")) { s.readyTimeout = v } else { ok = false } }
        if let n = f["restart"] {
            if let v = choice(n, f.path("restart"), ServiceConfig.Restart.allCases.map { ($0.rawValue, $0) }) { s.restart = v } else { ok = false }
        }
        if let n = f["stop_signal"] { if let v = stopSignal(n, f.path("stop_signal")) { s.stopSignal = v } else { ok = false } }
        if let n = f["stop_timeout"] { if let v = duration(n, f.path("stop_timeout")) { s.stopTimeout = v } else { ok = false } }
        if let n = f["log"] { if let v = filePath(n, f.path("log")) { s.log = v } else { ok = false } }
        if ok { warnAboutMissingScripts(s, argumentNodes) }
        return ok ? s : nil
    }

    /// File name endings of the scripts an interpreter is given (`python3 app.py`, `node server.js`).
    static let scriptSuffixes = [".py", ".js", ".mjs", ".cjs", ".ts", ".rb", ".pl", ".php", ".sh", ".lua", ".jar"]

    /// A warning for each argument after the program that names a script (it ends in one of
    /// `scriptSuffixes`, is no option, has no "=" and no blank) that does not exist relative to
    /// the instances' `cwd`: the interpreter would exit at once and the instance crash-loop. Only a
    /// warning, because what an argument means is the program's business.
    private func warnAboutMissingScripts(_ s: ServiceConfig, _ nodes: [(Node, String)]) {
        for (k, arg) in s.command.enumerated().dropFirst() where k < nodes.count {
            guard !arg.hasPrefix("-"), !arg.contains("="), !arg.contains(where: \.isWhitespace),
                  Self.scriptSuffixes.contains(where: { arg.hasSuffix($0) }) else { continue }
            let resolved = FileSystem.resolve(arg, against: s.cwd)
            if FileSystem.kind(of: resolved) == .missing {
                warn(nodes[k].0, nodes[k].1, "script \"\(resolved)\" does not exist (relative to cwd \"\(s.cwd)\"): the instances would exit at start")
            }
        }
    }

    /// `command`: a non-empty list of strings. The program (the first) is found now: a bare name
    /// in the PATH of the loading process (its `environment`), a name with "/" against the
    /// manifest's directory; either must be an executable file.
    private func commandLine(_ node: Node, _ path: String) -> (argv: [String], executable: String, nodes: [(Node, String)])? {
        let expected = "a list of strings (the program and its arguments, run without a shell), like [\"python3\", \"app.py\"]"
        guard case .sequence = node else { report(node, path, "expected \(expected), found \(describe(node))"); return nil }
        guard let list = items(node, path) else { return nil }
        guard let (first, firstPath) = list.first else { report(node, path, "expected at least the program to run"); return nil }
        var argv: [String] = [], ok = true
        for (i, (n, p)) in list.enumerated() {
            guard let t = string(n, p, nonEmpty: i == 0) else { ok = false; continue }
            if t.contains("\0") { report(n, p, "an argument must not contain NUL"); ok = false; continue }
            argv.append(t)
        }
        guard ok, let program = argv.first else { return nil }
        if program.contains("/") {
            let resolved = FileSystem.resolve(program, against: directory)
            switch FileSystem.kind(of: resolved) {
            case .missing: report(first, firstPath, "program \"\(resolved)\" does not exist"); return nil
            case .directory: report(first, firstPath, "program \"\(resolved)\" is a directory"); return nil
            case .other:
                guard FileSystem.isExecutableFile(resolved) else {
                    report(first, firstPath, "program \"\(resolved)\" is not an executable file"); return nil
                }
            }
            return (argv, resolved, list)
        }
        let searchPath = environment["PATH"] ?? FileSystem.defaultSearchPath
        guard let found = FileSystem.findExecutable(program, searchPath: searchPath) else {
            report(first, firstPath, "command not found: \"\(program)\" is not in PATH (\(searchPath)); give a path or install it")
            return nil
        }
        return (argv, found, list)
    }

    /// `TERM` or `SIGTERM` (and the other names of `ServiceConfig.StopSignal`).
    private func stopSignal(_ node: Node, _ path: String) -> ServiceConfig.StopSignal? {
        let names = ServiceConfig.StopSignal.allCases.map(\.rawValue).joined(separator: ", ")
        let expected = "one of \(names) (\"SIG\" in front allowed)"
        guard let t = text(node, path, expected: expected) else { return nil }
        let bare = t.hasPrefix("SIG") ? String(t.dropFirst(3)) : t
        guard let s = ServiceConfig.StopSignal(rawValue: bare) else { report(node, path, "expected \(expected); found \"\(t)\""); return nil }
        return s
    }

    /// Every `{service: NAME}` read in the routes must name an entry of `services`.
    func checkServiceReferences(known: [String]) {
        for ref in serviceReferences where !known.contains(ref.name) {
            if known.isEmpty {
                report(ref.node, ref.path, "unknown service \"\(ref.name)\": the manifest has no \"services\"")
            } else if let guess = EditDistance.suggestion(for: ref.name, among: known) {
                report(ref.node, ref.path, "unknown service \"\(ref.name)\"; did you mean \"\(guess)\"?")
            } else {
                report(ref.node, ref.path, "unknown service \"\(ref.name)\"; services: \(known.joined(separator: ", "))")
            }
        }
    }
}
