import CloudTestSupport
import Foundation
import Testing
import TroveHTTP
#if canImport(Glibc)
import Glibc
#endif

/// `trove serve` with `serve.auth_url` end to end: the real binary configured through TROVE_SERVE_*
/// variables, the example host application (config/auth-example.py), and headless Chromium logging in
/// through it (Tests/authserver/browser_login.py, over the DevTools protocol).
@Suite(.serialized) struct ServeAuthEndToEndTests {
    @Test func aLoggedInBrowserReadsAPrivatePageAndALoggedOutOneDoesNot() async throws {
        let cli = try TroveCLI()
        let tree = try cli.tree("site", pages: 3)
        #expect(try cli.run(["publish", "private", "v1", tree]).status == 0)
        let (redirectPort, notFoundPort) = (try freePort(), try freePort())
        let app = try await PythonService.start("../config/auth-example.py", [
            "--port", "0", "--members", "alice:private", "--trove", "http://127.0.0.1:\(redirectPort)", "--exit-with-stdin",
        ])
        defer { app.stop() }
        var env = cli.environment
        env["TROVE_SERVE_PRIVATE_PROJECTS"] = "private"
        env["TROVE_SERVE_AUTH_URL"] = app.endpoint + "/auth"
        env["TROVE_SERVE_ACCESS_LOG"] = "false"
        let work = cli.home.path
        var redirectEnv = env
        redirectEnv["TROVE_SERVE_AUTH_DENIED"] = "redirect"
        let redirectNode = try TroveProcess(["serve", "--listen", "127.0.0.1:\(redirectPort)"], environment: redirectEnv, workDir: work)
        defer { redirectNode.kill(SIGTERM) }
        let notFoundNode = try TroveProcess(["serve", "--listen", "127.0.0.1:\(notFoundPort)"], environment: env, workDir: work)
        defer { notFoundNode.kill(SIGTERM) }

        let client = try CurlHTTPClient()
        defer { client.shutdown() }
        let page = "/private/v1/p1.html"
        for (port, node) in [(redirectPort, redirectNode), (notFoundPort, notFoundNode)] {
            var up = false
            let deadline = ContinuousClock.now + .seconds(60)
            while !up && node.process.isRunning && ContinuousClock.now < deadline {
                up = (try? await client.send("GET", "http://127.0.0.1:\(port)/healthz"))?.status == 200
                if !up { try await Task.sleep(for: .milliseconds(50)) }
            }
            if !up {
                let result = await node.wait(timeout: .seconds(5))
                Issue.record("trove serve on \(port) did not start: \(result)")
                return
            }
        }
        // Without a browser: what each node answers a reader without a session.
        let redirected = try await client.send("GET", "http://127.0.0.1:\(redirectPort)\(page)")
        #expect(redirected.status == 302)
        #expect(redirected.header("Location")?.hasPrefix(app.endpoint + "/login?next=") == true)
        #expect(try await client.send("GET", "http://127.0.0.1:\(notFoundPort)\(page)").status == 404)

        let (status, output) = try await Self.runPython([
            PythonService.testsDirectory.appendingPathComponent("authserver/browser_login.py").path,
            "--app", app.endpoint, "--redirect-node", "http://127.0.0.1:\(redirectPort)",
            "--notfound-node", "http://127.0.0.1:\(notFoundPort)", "--page", page, "--expect", "page 1 text",
            "--chromium", Self.chromium,
        ])
        #expect(status == 0, "\(output)")
        #expect(output.contains("\"ok\": true"), "\(output)")
    }

    /// Debian's chromium (`make deps` installs it), or `$CHROMIUM`.
    static var chromium: String { ProcessInfo.processInfo.environment["CHROMIUM"] ?? "/usr/bin/chromium" }

    /// Runs python3 with `args` on a thread of its own (it blocks), returning its status and output.
    static func runPython(_ args: [String]) async throws -> (Int32, String) {
        try await withCheckedThrowingContinuation { c in
            Thread {
                c.resume(with: Result {
                    let p = Process()
                    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
                    p.arguments = ["python3"] + args
                    let out = Pipe()
                    p.standardOutput = out
                    p.standardError = out
                    try p.run()
                    let data = out.fileHandleForReading.readDataToEndOfFile()
                    p.waitUntilExit()
                    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
                })
            }.start()
        }
    }

    @Test(arguments: [
        ("TROVE_SERVE_AUTH_URL", "ftp://user:pa55word@auth.test/check", "must be an http:// or https:// URL with a host"),
        ("TROVE_SERVE_AUTH_URL", "http:///no-host?key=pa55word", "must be an http:// or https:// URL with a host"),
        ("TROVE_SERVE_AUTH_DENIED", "401", "must be one of 404, pass, redirect"),
        ("TROVE_SERVE_AUTH_HEADERS", "Cookie, X Bad", "must be comma-separated HTTP header names"),
        ("TROVE_SERVE_AUTH_TIMEOUT", "0s", "TROVE_SERVE_AUTH_TIMEOUT must be a duration"),
        ("TROVE_SERVE_AUTH_TTL", "forever", "TROVE_SERVE_AUTH_TTL must be a duration"),
        ("TROVE_SERVE_AUTH_CACHE_ENTRIES", "0", "TROVE_SERVE_AUTH_CACHE_ENTRIES must be a whole number"),
    ])
    func badAuthSettingsAreExit64AndNeverEchoAURL(variable: String, value: String, message: String) throws {
        let cli = try TroveCLI()
        let r = try cli.run(["ls"], env: [variable: value])
        #expect(r.status == 64, "\(r.stderr)")
        #expect(r.stderr.contains(variable) && r.stderr.contains(message), "\(r.stderr)")
        #expect(!r.stderr.contains("pa55word"), "\(r.stderr)")
    }
}
