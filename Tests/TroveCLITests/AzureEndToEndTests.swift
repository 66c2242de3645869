import AzureTestServer
import Foundation
import Testing
import TroveAzure
import TroveHTTP
import TroveStorage
#if canImport(Glibc)
import Glibc
#endif

/// One test's Azure store (a fresh prefix of the test container) and scratch directory, and how to run
/// `trove` against it with the account key in AZURE_STORAGE_ACCOUNT / AZURE_STORAGE_KEY.
struct AzureEnv {
    let server: PythonService
    let prefix: String
    let work: String

    static func make() async throws -> AzureEnv {
        let server = try await AzureServer.shared()
        let id = UUID().uuidString.prefix(8).lowercased()
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("trove-az-e2e-\(id)").path
        try FileManager.default.createDirectory(atPath: work + "/home", withIntermediateDirectories: true)
        return AzureEnv(server: server, prefix: "e2e-\(id)", work: work)
    }

    var key: String { AzureServer.key(server) }

    func path(_ name: String) -> String { work + "/" + name }

    /// A clean environment: no config file (HOME is scratch), credentials only from AZURE_* variables.
    func environment(endpoint: String? = nil, container: String = AzureServer.container, prefix: String? = nil,
                     credentials: [String: String]? = nil, _ extra: [String: String] = [:]) -> [String: String] {
        var env = [
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": path("home"),
            "TROVE_STORE": AzureServer.url(server, endpoint: endpoint, container: container, prefix: prefix ?? self.prefix),
            "TROVE_CACHE_DIR": path("cache-\(UUID().uuidString.prefix(6))"),
            "TROVE_RETRY_MAX_ATTEMPTS": "6",
            "TROVE_RETRY_TIMEOUT": "30s",
        ]
        for (k, v) in credentials ?? ["AZURE_STORAGE_ACCOUNT": AzureServer.account, "AZURE_STORAGE_KEY": key] { env[k] = v }
        for (k, v) in extra { env[k] = v }
        return env
    }

    func start(_ args: [String], _ env: [String: String]) throws -> TroveProcess {
        try TroveProcess(args, environment: env, workDir: work)
    }

    func trove(_ args: [String], _ env: [String: String]? = nil, timeout: Duration = .seconds(300)) async throws -> RunResult {
        await (try start(args, env ?? environment())).wait(timeout: timeout)
    }

    func store(prefix: String? = nil) throws -> AzureBlobStore { try AzureServer.store(server, prefix: prefix ?? self.prefix) }

    func cleanUp() { try? FileManager.default.removeItem(atPath: work) }
}

/// The `trove` binary end to end against the Azure test server, every signature verified by the SDK's code.
@Suite(.serialized, .timeLimit(.minutes(10))) struct AzureEndToEndTests {
    @Test func publishExportServeGCVerifyAndRequestEconomy() async throws {
        let s = try await AzureEnv.make()
        defer { s.cleanUp() }
        let tree = s.path("tree")
        try DocsTree.write(to: tree)

        let pub = try await s.trove(["publish", "--json", "docs", "v1", tree])
        try #require(pub.status == 0, "\(pub)")
        let r = try pub.json()
        #expect(r.bool("switched") && r.int("files") == 333, "\(pub.stdout.prefix(800))")
        let manifest = try #require(r.string("manifest"))
        let pubReq = r.object("requests")
        // The same budget as s3://: gc lease, dictionary, one Put Blob per pack, manifest, ref; no request per chunk.
        #expect(pubReq.int("puts") == r.int("packs") + 4 && pubReq.int("heads") <= 5, "\(pubReq)")
        print("azure e2e cold publish: \(r.int("chunks")) chunks, \(r.int("packs")) packs, requests \(pubReq)")

        let out = s.path("out")
        let ex = try await s.trove(["export", "--json", "docs", "v1", out])
        try #require(ex.status == 0, "\(ex)")
        #expect(try treesIdentical(tree, out))
        #expect(try ex.json().string("manifest") == manifest)

        // Unchanged republish: nothing stored but the transient gc lease.
        let again = try await s.trove(["publish", "--json", "docs", "v1", tree])
        let a = try again.json()
        #expect(again.status == 0 && a.bool("unchanged") && a.object("requests").int("puts") == 1, "\(again.stdout.prefix(600))")
        // One HEAD per reused pack: a publish never commits over a lost pack (issue 12).
        #expect(a.object("requests").int("heads") <= r.int("packs") + 5, "\(a.object("requests"))")
        print("azure e2e unchanged republish: \(a.object("requests"))")

        // One-page rebuild: one new pack, manifest, ref (+ lease).
        let tree2 = s.path("tree2")
        try FileManager.default.copyItem(atPath: tree, toPath: tree2)
        let page = tree2 + "/html/1/page-123.html"
        try (try String(contentsOfFile: page, encoding: .utf8) + "<!-- rebuilt -->\n").write(toFile: page, atomically: true, encoding: .utf8)
        let one = try await s.trove(["publish", "--json", "docs", "v1", tree2])
        let o = try one.json()
        let oReq = o.object("requests")
        #expect(one.status == 0 && o.bool("switched") && o.int("packs") == 1, "\(one.stdout.prefix(600))")
        #expect(oReq.int("puts") == o.int("packs") + 3 && oReq.int("heads") <= r.int("packs") + 4, "\(oReq)")
        print("azure e2e one-page rebuild: \(o.int("newChunks")) new chunks, requests \(oReq)")

        // serve: a page comes back byte-identical over HTTP (html/ is the media type served at the version root).
        let port = try freePort()
        let serve = try s.start(["serve", "--no-access-log", "--listen", "127.0.0.1:\(port)"], s.environment())
        defer { serve.kill(SIGTERM) }
        let client = try CurlHTTPClient()
        var served: HTTPResponse? = nil
        let deadline = ContinuousClock.now + .seconds(60)
        while served == nil && serve.process.isRunning && ContinuousClock.now < deadline {
            served = try? await client.send("GET", "http://127.0.0.1:\(port)/docs/v1/1/page-123.html")
            if served == nil { try await Task.sleep(for: .milliseconds(50)) }
        }
        let pageBytes = Array(try Data(contentsOf: URL(fileURLWithPath: page)))
        #expect(served?.status == 200 && served?.body == pageBytes, "serve: \(served?.status ?? 0) \(String(decoding: served?.body.prefix(300) ?? [], as: UTF8.self))")
        serve.kill(SIGTERM)

        // delete, gc, verify --deep: the first build's manifest and the replaced pack go; what is live verifies.
        #expect(try await s.trove(["delete", "docs", "v1"]).status == 0)
        let gc = try await s.trove(["gc", "--json", "--grace", "0s", "--keep-builds", "1", "--keep-within", "0s"])
        try #require(gc.status == 0, "\(gc)")
        let g = try gc.json().object("report")
        #expect(g.object("packs").int("deleted") >= 2 && g.object("manifests").int("deleted") >= 2, "\(gc.stdout.prefix(1200))")
        #expect(try await s.store().listAll(prefix: "packs/").isEmpty)
        let verify = try await s.trove(["verify", "--deep"])
        #expect(verify.status == 0, "\(verify)")
    }

    @Test func theSDKReadsWhatTrovePublished() async throws {
        let s = try await AzureEnv.make()
        defer { s.cleanUp() }
        let tree = s.path("tree")
        try DocsTree.write(to: tree, pages: 60, binaryMiB: 1)
        let pub = try await s.trove(["publish", "docs", "v1", tree])
        try #require(pub.status == 0, "\(pub)")
        let store = try s.store()
        let packs = try await store.listAll(prefix: "packs/")
        let pack = try #require(packs.first)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", PythonService.testsDirectory.appendingPathComponent("azureserver/sdk_interop.py").path,
                       "--endpoint", s.server.endpoint, "--account", AzureServer.account, "--key", s.key,
                       "--container", AzureServer.container, "--prefix", s.prefix,
                       "--download", s.prefix + "/" + pack.key.rawValue, "--out", s.path("pack")]
        let stdout = Pipe()
        p.standardOutput = stdout
        try p.run()
        let listed = stdout.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        try #require(p.terminationStatus == 0)
        let names = try #require(try JSONSerialization.jsonObject(with: listed) as? [String])
        let ours = try await store.listAll(prefix: "").map { s.prefix + "/" + $0.key.rawValue }
        #expect(names == ours, "SDK lists \(names.count), trove \(ours.count)")
        #expect(names.contains { $0.hasPrefix(s.prefix + "/refs/docs/versions/v1") } && names.contains { $0.hasPrefix(s.prefix + "/manifests/") })
        #expect(Array(try Data(contentsOf: URL(fileURLWithPath: s.path("pack")))) == (try await store.get(pack.key)))
    }

    @Test func credentialAndEndpointErrorsAreOneClearLine() async throws {
        let s = try await AzureEnv.make()
        defer { s.cleanUp() }
        let wrongKey = Data((0..<64).map { UInt8(255 - $0) }).base64EncodedString()
        func check(_ r: RunResult, status: Int32, contains text: String, _ loc: SourceLocation = #_sourceLocation) {
            #expect(r.status == status && !r.signaled, "\(r)", sourceLocation: loc)
            #expect(r.stderrLines.count == 1 && r.stderr.hasPrefix("trove: ") && r.stderr.contains(text), "\(r)", sourceLocation: loc)
            #expect(r.stdout.isEmpty, "\(r)", sourceLocation: loc)
            print("azure e2e error (exit \(r.status), \(String(format: "%.1f", r.seconds)) s): \(r.stderr)", terminator: "")
            for secret in [s.key, wrongKey] {
                #expect(!r.stdout.contains(secret) && !r.stderr.contains(secret), "secret leaked: \(r)", sourceLocation: loc)
            }
        }
        let tree = s.path("tree")
        try DocsTree.write(to: tree, pages: 20, binaryMiB: 1)
        let wrong = ["AZURE_STORAGE_ACCOUNT": AzureServer.account, "AZURE_STORAGE_KEY": wrongKey]
        check(try await s.trove(["ls"], s.environment(credentials: wrong)), status: 1,
              contains: "rejected the request signature for account \(AzureServer.account): wrong account key (AuthenticationFailed)")
        check(try await s.trove(["publish", "docs", "v1", tree], s.environment(credentials: wrong)), status: 1, contains: "wrong account key")
        check(try await s.trove(["ls", "docs"], s.environment(container: "no-such-container")), status: 1,
              contains: "container no-such-container does not exist in account \(AzureServer.account) at \(s.server.endpoint) (ContainerNotFound)")
        let sas = try await AzureServer.sas(s.server, permissions: "rl")
        check(try await s.trove(["publish", "docs", "v1", tree], s.environment(credentials: ["AZURE_STORAGE_SAS_TOKEN": sas])), status: 1,
              contains: "(AuthorizationPermissionMismatch): the SAS token lacks a permission")
        check(try await s.trove(["ls"], s.environment(credentials: [:])), status: 64, contains: "no Azure credentials for azure://trove-test")
        let dead = try await s.trove(["ls"], s.environment(endpoint: "http://127.0.0.1:1/\(AzureServer.account)", ["TROVE_RETRY_MAX_ATTEMPTS": "3", "TROVE_RETRY_TIMEOUT": "5s"]))
        check(dead, status: 69, contains: "cannot connect to http://127.0.0.1:1: connection refused (gave up on list refs/ after 3 attempts")
        // A read-only SAS serves reads: what a serve node needs.
        #expect(try await s.trove(["publish", "docs", "v1", tree]).status == 0)
        let ro = try await s.trove(["ls", "docs", "v1"], s.environment(credentials: ["AZURE_STORAGE_SAS_TOKEN": sas]))
        #expect(ro.status == 0 && ro.stdout.contains("pdf/manual.pdf"), "\(ro)")
        #expect(try await s.store().listAll(prefix: "").allSatisfy { !$0.key.rawValue.hasPrefix("journal/") })
    }

    @Test func publishAndExportThroughTwentyFivePercentServerBusy() async throws {
        let s = try await AzureEnv.make()
        defer { s.cleanUp() }
        let proxy = try await AzureServer.faultProxy(failRate: 0.25, faults: "503,500,reset-before,reset-mid,apply-then-500", seed: 11)
        defer { proxy.stop() }
        let tree = s.path("tree")
        try DocsTree.write(to: tree)
        let env = s.environment(endpoint: AzureServer.endpoint(through: proxy), ["TROVE_RETRY_MAX_ATTEMPTS": "30", "TROVE_RETRY_TIMEOUT": "60s"])
        let pub = try await s.trove(["publish", "--json", "--pack-size", "256KiB", "docs", "v1", tree], env)
        try #require(pub.status == 0, "\(pub)")
        #expect(try pub.json().int("packs") > 8)
        let out = s.path("out")
        let ex = try await s.trove(["export", "docs", "v1", out], env)
        #expect(ex.status == 0, "\(ex)")
        #expect(try treesIdentical(tree, out))
        let stats = try await FaultProxy.stats(proxy)
        let requests = stats["requests"] ?? 0, faults = stats["faults"] ?? 0
        // Export reads each pack region once (a few dozen requests, not one per file), so the share of
        // faults is checked loosely: the point is that they happened and both runs still came out whole.
        #expect(requests > 30 && Double(faults) > Double(requests) * 0.12 && (stats["503"] ?? 0) > 0, "\(stats)")
        print("azure e2e through 25% faults: \(stats)")
    }

    @Test func persistentFailureGivesUpQuicklyAndKeepsThePreviousVersion() async throws {
        let s = try await AzureEnv.make()
        defer { s.cleanUp() }
        let tree1 = s.path("tree1"), tree2 = s.path("tree2")
        try DocsTree.write(to: tree1, pages: 120, binaryMiB: 1)
        try DocsTree.write(to: tree2, pages: 120, binaryMiB: 1, variant: 1)
        let first = try await s.trove(["publish", "--json", "docs", "v1", tree1])
        try #require(first.status == 0, "\(first)")
        let manifest = try first.json().string("manifest")
        let proxy = try await AzureServer.faultProxy(failRate: 1.0, faults: "503,500,reset-before", methods: "PUT")
        defer { proxy.stop() }
        let env = s.environment(endpoint: AzureServer.endpoint(through: proxy), ["TROVE_RETRY_MAX_ATTEMPTS": "1000", "TROVE_RETRY_TIMEOUT": "5s"])
        let failed = try await s.trove(["publish", "docs", "v1", tree2], env)
        #expect(failed.status == 69 && failed.stderrLines.count == 1 && failed.stderr.contains("(gave up on put "), "\(failed)")
        #expect(failed.seconds < 20, "\(failed)")
        print("azure e2e persistent failure (exit \(failed.status), \(String(format: "%.1f", failed.seconds)) s): \(failed.stderr)", terminator: "")
        let versions = try await s.trove(["ls", "--json", "docs"])
        #expect(try versions.jsonArray().first?.string("manifest") == manifest)
        let out = s.path("out")
        #expect(try await s.trove(["export", "docs", "v1", out]).status == 0)
        #expect(try treesIdentical(tree1, out))
    }

    @Test func concurrentPublishesOfOneVersionLeaveOneCompleteBuild() async throws {
        let s = try await AzureEnv.make()
        defer { s.cleanUp() }
        let treeA = s.path("a"), treeB = s.path("b")
        try DocsTree.write(to: treeA, pages: 200, binaryMiB: 2, seed: 1)
        try DocsTree.write(to: treeB, pages: 200, binaryMiB: 2, variant: 3, seed: 2)
        let pa = try s.start(["publish", "--json", "docs", "latest", treeA], s.environment())
        let pb = try s.start(["publish", "--json", "docs", "latest", treeB], s.environment())
        let ra = await pa.wait(), rb = await pb.wait()
        var winners: [String: String] = [:]
        for (r, tree) in [(ra, treeA), (rb, treeB)] {
            if r.status == 0 {
                winners[try #require(try r.json().string("manifest"))] = tree
            } else {
                #expect(r.stderrLines.count == 1 && r.stderr.hasPrefix("trove: "), "\(r)")
            }
        }
        #expect(!winners.isEmpty, "neither publish succeeded: \(ra)\n\(rb)")
        let row = try #require(try await s.trove(["ls", "--json", "docs"]).jsonArray().first)
        let live = try #require(row.string("manifest"))
        let tree = try #require(winners[live], "the ref names \(live), which neither successful publish wrote")
        let out = s.path("out")
        #expect(try await s.trove(["export", "docs", "latest", out]).status == 0)
        #expect(try treesIdentical(tree, out))
    }
}

/// A loopback TCP port nobody listens on right now (the kernel's pick for port 0).
func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = 0
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &addr) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
    }
    guard ok else { throw HarnessError("cannot find a free port") }
    return Int(UInt16(bigEndian: addr.sin_port))
}
