import Foundation
import Testing
@testable import FlaksConfig

/// The top-level `services` list and the routes that name a service.
@Suite struct ServicesTests {
    /// A fixture with an executable `bin/app` and a `logs` directory.
    func fixture() throws -> Fixture {
        let f = try Fixture()
        try FileManager.default.createDirectory(atPath: f.dir + "/bin", withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: f.dir + "/bin/app", contents: Data("#!/bin/sh\n".utf8),
                                       attributes: [.posixPermissions: 0o755])
        return f
    }

    @Test func everyKeyAndTheDefaults() throws {
        let f = try fixture()
        let config = try f.load("""
        services:
          - name: api
            command: [app, "-c", "exec app", ""]
            cwd: sites/example
            env: {MODE: production, EMPTY: ""}
            instances: 3
            ready: /healthz
            ready_timeout: 5s
            restart: on-failure
            stop_signal: SIGINT
            stop_timeout: 1s
            log: logs/api.log
          - name: worker_2
            command: [bin/app]
          - {name: abs-1, command: ["\(f.dir)/bin/app", x], restart: never, stop_signal: KILL}
        hosts:
          - names: ["*"]
            routes:
              - {path: /api/, proxy: {service: api}}
              - {path: /php/, fastcgi: {service: worker_2}, root: sites}
        """, env: ["PATH": "/nonexistent:\(f.dir)/bin"])
        #expect(config.services == [
            ServiceConfig(name: "api", command: ["app", "-c", "exec app", ""], executable: f.dir + "/bin/app",
                          cwd: f.dir + "/sites/example", env: ["MODE": "production", "EMPTY": ""], instances: 3,
                          ready: "/healthz", readyTimeout: .seconds(5), restart: .onFailure, stopSignal: .int,
                          stopTimeout: .seconds(1), log: f.dir + "/logs/api.log"),
            ServiceConfig(name: "worker_2", command: ["bin/app"], executable: f.dir + "/bin/app", cwd: f.dir),
            ServiceConfig(name: "abs-1", command: [f.dir + "/bin/app", "x"], executable: f.dir + "/bin/app", cwd: f.dir,
                          restart: .never, stopSignal: .kill),
        ])
        let d = config.services[1]
        #expect(d.env.isEmpty && d.instances == 1 && d.ready == nil && d.readyTimeout == .seconds(30))
        #expect(d.restart == .always && d.stopSignal == .term && d.stopTimeout == .seconds(10) && d.log == nil)
        #expect(config.hosts[0].routes[0].kind == .proxy(ProxyRoute(upstreams: .service("api"))))
        #expect(config.hosts[0].routes[1].kind == .fastcgi(FastCGIRoute(responder: .service("worker_2"), root: f.dir + "/sites")))
        // No services: an empty list, as when the key is absent.
        #expect(try f.load("services: []\n" + minimalHosts).services == [])
        #expect(try f.load(minimalHosts).services == [])
    }

    @Test func stopSignalSpellings() throws {
        let f = try fixture()
        for (written, signal) in [("TERM", ServiceConfig.StopSignal.term), ("SIGTERM", .term), ("INT", .int), ("QUIT", .quit),
                                  ("SIGHUP", .hup), ("USR1", .usr1), ("SIGUSR2", .usr2), ("KILL", .kill)] {
            let config = try f.load("services: [{name: a, command: [bin/app], stop_signal: \(written)}]\n" + minimalHosts)
            #expect(config.services.first?.stopSignal == signal, "\(written)")
        }
        #if os(Linux)
        #expect(ServiceConfig.StopSignal.allCases.map(\.number) == [15, 2, 3, 1, 10, 12, 9])
        #endif
    }

    @Test func definitionErrors() throws {
        let f = try fixture()
        #expect(f.errors("""
        services:
          - api
          - {command: [bin/app]}
          - {name: API, command: "bin/app --port 80"}
          - {name: a, command: []}
          - {name: a, command: [nosuch-program-xyz]}
          - {name: b, command: [bin/missing]}
          - {name: c, command: [sites/file.txt]}
          - {name: d, command: [./sites]}
          - {name: e, command: ["", x]}
          - {name: f, command: [bin/app, [x]]}
        \(minimalHosts)
        """, env: ["PATH": "/nonexistent"]) == [
            "config.yaml:2:5: services[0]: expected a mapping, found \"api\"",
            "config.yaml:3:5: services[1]: missing key \"name\"",
            "config.yaml:4:12: services[2].name: expected a service name (lowercase letters, digits, \"_\", \"-\"), found \"API\"",
            "config.yaml:4:26: services[2].command: expected a list of strings (the program and its arguments, run without a shell), like [\"python3\", \"app.py\"], found \"bin/app --port 80\"",
            "config.yaml:5:24: services[3].command: expected at least the program to run",
            "config.yaml:6:12: services[4].name: service name \"a\" is already used by services[3]",
            "config.yaml:6:25: services[4].command[0]: command not found: \"nosuch-program-xyz\" is not in PATH (/nonexistent); give a path or install it",
            "config.yaml:7:25: services[5].command[0]: program \"$DIR/bin/missing\" does not exist",
            "config.yaml:8:25: services[6].command[0]: program \"$DIR/sites/file.txt\" is not an executable file",
            "config.yaml:9:25: services[7].command[0]: program \"$DIR/sites\" is a directory",
            "config.yaml:10:25: services[8].command[0]: expected a non-empty string",
            "config.yaml:11:34: services[9].command[1]: expected a string, found a list",
        ])
    }

    @Test func optionErrors() throws {
        let f = try fixture()
        #expect(f.errors("""
        services:
          - name: a
            command: [bin/app]
            cwd: missing
            env: {PORT: "1", "1X": y, FLAKS_INSTANCE: "2"}
            instances: 0
            ready: healthz
            ready_timeout: 0s
            restart: sometimes
            stop_signal: TERMINATE
            stop_timeout: 0s
            log: [a]
          - {name: b, command: [bin/app], cwd: sites/file.txt, instances: -1, stop_signal: 15}
          - {name: c, command: [bin/app], stop_signal: term, comand: [x], instance: 2}
        \(minimalHosts)
        """) == [
            "config.yaml:4:10: services[0].cwd: cwd \"$DIR/missing\" does not exist",
            "config.yaml:5:11: services[0].env: \"PORT\" is set by Flaks for each instance",
            "config.yaml:5:22: services[0].env: expected an environment variable name (letters, digits, \"_\"), found \"1X\"",
            "config.yaml:5:31: services[0].env: \"FLAKS_INSTANCE\" is set by Flaks for each instance",
            "config.yaml:6:16: services[0].instances: expected an integer >= 1, found \"0\"",
            "config.yaml:7:12: services[0].ready: expected a path starting with \"/\", found \"healthz\"",
            "config.yaml:8:20: services[0].ready_timeout: expected a duration above zero, found \"0s\"",
            "config.yaml:9:14: services[0].restart: expected one of always, on-failure, never; found \"sometimes\"",
            "config.yaml:10:18: services[0].stop_signal: expected one of TERM, INT, QUIT, HUP, USR1, USR2, KILL (\"SIG\" in front allowed); found \"TERMINATE\"",
            "config.yaml:11:19: services[0].stop_timeout: expected a duration above zero, found \"0s\"",
            "config.yaml:12:10: services[0].log: expected a string, found a list",
            "config.yaml:13:40: services[1].cwd: cwd \"$DIR/sites/file.txt\" is not a directory",
            "config.yaml:13:67: services[1].instances: expected an integer >= 1, found \"-1\"",
            "config.yaml:13:84: services[1].stop_signal: expected one of TERM, INT, QUIT, HUP, USR1, USR2, KILL (\"SIG\" in front allowed); found \"15\"",
            "config.yaml:14:48: services[2].stop_signal: expected one of TERM, INT, QUIT, HUP, USR1, USR2, KILL (\"SIG\" in front allowed); found \"term\"",
            "config.yaml:14:54: services[2]: unknown key \"comand\"; did you mean \"command\"?",
            "config.yaml:14:67: services[2]: unknown key \"instance\"; did you mean \"instances\"?",
        ])
        // instances: exactly 1 is allowed (0 is not, above).
        #expect(try f.load("services: [{name: a, command: [bin/app], instances: 1}]\n" + minimalHosts).services.first?.instances == 1)
        #expect(f.errors("services: {api: {command: [x]}}\n" + minimalHosts) == [
            "config.yaml:1:11: services: expected a list, found a mapping",
        ])
    }

    @Test func routesNamingUnknownServices() throws {
        let f = try fixture()
        let routes = """
        hosts:
          - names: ["*"]
            routes:
              - {path: /a/, proxy: {service: apx}}
              - {path: /b/, fastcgi: {service: other}, root: sites}
              - {path: /c/, proxy: {service: broken}}
              - {path: /d/, proxy: {service: api, balance: first}}
        """
        #expect(f.errors("""
        services:
          - {name: api, command: [bin/app]}
          - {name: web, command: [bin/app]}
          - {name: broken, command: [bin/missing]}
        \(routes)
        """) == [
            "config.yaml:4:30: services[2].command[0]: program \"$DIR/bin/missing\" does not exist",
            "config.yaml:8:38: hosts[0].routes[0].proxy.service: unknown service \"apx\"; did you mean \"api\"?",
            "config.yaml:9:40: hosts[0].routes[1].fastcgi.service: unknown service \"other\"; services: api, web, broken",
        ])
        #expect(f.errors(routes) == [
            "config.yaml:4:38: hosts[0].routes[0].proxy.service: unknown service \"apx\": the manifest has no \"services\"",
            "config.yaml:5:40: hosts[0].routes[1].fastcgi.service: unknown service \"other\": the manifest has no \"services\"",
            "config.yaml:6:38: hosts[0].routes[2].proxy.service: unknown service \"broken\": the manifest has no \"services\"",
            "config.yaml:7:38: hosts[0].routes[3].proxy.service: unknown service \"api\": the manifest has no \"services\"",
        ])
    }

    @Test func wrongTypes() throws {
        let f = try fixture()
        #expect(f.errors("""
        services:
          - {name: [a], command: [bin/app], env: [A], cwd: [x], ready_timeout: soon, restart: [always]}
        \(minimalHosts)
        """) == [
            "config.yaml:2:12: services[0].name: expected a service name (lowercase letters, digits, \"_\", \"-\"), found a list",
            "config.yaml:2:42: services[0].env: expected a mapping, found a list",
            "config.yaml:2:52: services[0].cwd: expected a string, found a list",
            "config.yaml:2:72: services[0].ready_timeout: expected a duration like 250ms, 10s, 2m or 1h, found \"soon\"",
            "config.yaml:2:87: services[0].restart: expected one of always, on-failure, never, found a list",
        ])
    }

    /// A script argument (`python3 app.py`) that is not in the instances' cwd is a warning with its
    /// position; options, `k=v`, arguments with blanks and other names are not looked at.
    @Test func missingScriptIsAWarning() throws {
        let f = try fixture()
        FileManager.default.createFile(atPath: f.dir + "/sites/example/app.py", contents: Data())
        let config = try f.load("""
        services:
          - name: a
            cwd: sites/example
            command: [bin/app, app.py, -c, conf.py, x=y.py, "a b.py", --x.py, mod]
          - name: b
            command: [bin/app, server.js, lib/x.rb, notes.txt]
          - {name: c, command: [bin/app, "\(f.dir)/sites/example/app.py"]}
        \(minimalHosts)
        """)
        #expect(config.services.count == 3)
        #expect(config.warnings.map { $0.description.replacingOccurrences(of: f.dir, with: "$DIR") } == [
            "config.yaml:4:36: warning: services[0].command[3]: script \"$DIR/sites/example/conf.py\" does not exist (relative to cwd \"$DIR/sites/example\"): the instances would exit at start",
            "config.yaml:6:24: warning: services[1].command[1]: script \"$DIR/server.js\" does not exist (relative to cwd \"$DIR\"): the instances would exit at start",
            "config.yaml:6:35: warning: services[1].command[2]: script \"$DIR/lib/x.rb\" does not exist (relative to cwd \"$DIR\"): the instances would exit at start",
        ])
        // Once the scripts exist, no warning.
        try FileManager.default.createDirectory(atPath: f.dir + "/lib", withIntermediateDirectories: true)
        for p in ["/sites/example/conf.py", "/server.js", "/lib/x.rb"] { FileManager.default.createFile(atPath: f.dir + p, contents: Data()) }
        #expect(try f.load("""
        services:
          - {name: a, cwd: sites/example, command: [bin/app, app.py, -c, conf.py]}
          - {name: b, command: [bin/app, server.js, lib/x.rb, notes.txt]}
        \(minimalHosts)
        """).warnings.isEmpty)
    }
}
