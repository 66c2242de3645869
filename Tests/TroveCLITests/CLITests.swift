import Foundation
import Testing

/// Runs the real `trove` binary (built by `swift build --build-tests`, or `$TROVE_BIN`).
struct TroveCLI {
    static let binary: String = {
        if let b = ProcessInfo.processInfo.environment["TROVE_BIN"] { return b }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/trove").path
    }()

    let home: URL
    var environment: [String: String]

    init() throws {
        home = FileManager.default.temporaryDirectory.appendingPathComponent("trove-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        environment = ["HOME": home.path, "PATH": "/usr/bin:/bin", "TROVE_STORE": "file://\(home.path)/store",
                       "TROVE_CACHE_DIR": home.path + "/cache"]
    }

    struct Result { var status: Int32; var stdout: String; var stderr: String }

    @discardableResult
    func run(_ args: [String], env extra: [String: String] = [:], cwd: String? = nil) throws -> Result {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: TroveCLI.binary)
        p.arguments = args
        if let cwd { p.currentDirectoryURL = URL(fileURLWithPath: cwd) }
        p.environment = environment.merging(extra) { $1 }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        // A watchdog, not a timing assertion: a run that hangs (a regression) is killed so the suite ends.
        let pid = p.processIdentifier
        let watchdog = DispatchWorkItem { kill(pid, SIGKILL) }
        DispatchQueue.global().asyncAfter(deadline: .now() + .seconds(300), execute: watchdog)
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        watchdog.cancel()
        return Result(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    func tree(_ name: String, pages: Int = 20, date: String = "1") throws -> String {
        let t = home.appendingPathComponent(name).path
        for i in 0..<pages {
            let p = "\(t)/html/p\(i).html"
            try FileManager.default.createDirectory(atPath: (p as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try Data("<html><body>\(String(repeating: "page \(i) text ", count: 500))<footer>\(date)</footer></body></html>".utf8).write(to: URL(fileURLWithPath: p))
        }
        return t
    }

    func json(_ s: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(s.utf8)) as? [String: Any])
    }
}

@Suite struct CLITests {
    @Test func publishListCatExportStats() throws {
        let cli = try TroveCLI()
        let t = try cli.tree("b1")
        let pub = try cli.run(["publish", "docs", "latest", t, "--json"])
        #expect(pub.status == 0, "\(pub.stderr)")
        let report = try cli.json(pub.stdout)
        #expect(report["switched"] as? Bool == true)
        #expect(report["files"] as? Int == 20)
        #expect((report["requests"] as? [String: Any])?["puts"] as? Int ?? 0 >= 3)

        let human = try cli.run(["publish", "docs", "v2", t])
        #expect(human.status == 0)
        #expect(human.stdout.contains("Published docs/v2"))
        #expect(human.stdout.contains("0 new"))

        #expect(try cli.run(["ls"]).stdout.contains("docs\t2 versions"))
        #expect(try cli.run(["ls", "docs"]).stdout.contains("latest"))
        let files = try cli.run(["ls", "docs", "latest", "html", "--json"])
        #expect(files.stdout.contains("html/p7.html"))

        let cat = try cli.run(["cat", "docs", "latest", "html/p3.html"])
        #expect(cat.status == 0)
        #expect(cat.stdout == (try String(contentsOfFile: t + "/html/p3.html", encoding: .utf8)))

        let dest = cli.home.path + "/out"
        #expect(try cli.run(["export", "docs", "latest", dest]).status == 0)
        let diff = Process()
        diff.executableURL = URL(fileURLWithPath: "/usr/bin/diff")
        diff.arguments = ["-r", t, dest]
        try diff.run()
        diff.waitUntilExit()
        #expect(diff.terminationStatus == 0)
        #expect(try cli.run(["export", "docs", "latest", dest]).status == 64) // not empty

        let stats = try cli.json(try cli.run(["stats", "--json"]).stdout)
        #expect(stats["versions"] as? Int == 2)
        #expect((stats["dedupRatio"] as? Double ?? 0) > 1.9)
    }

    /// One malformed ref (issue 12, item 15) is reported as such, naming its key, while the project's
    /// other versions are still listed, counted and verified: `ls PROJECT` shows a row for it and
    /// exits 1, `ls` counts it, `stats` skips it with a warning, `verify` lists it as a problem (exit 1).
    @Test func aMalformedRefIsListedNotFatal() throws {
        let cli = try TroveCLI()
        let t = try cli.tree("b")
        #expect(try cli.run(["publish", "docs", "v1", t]).status == 0)
        #expect(try cli.run(["publish", "docs", "v2", t]).status == 0)
        let key = "refs/docs/versions/v2"
        try Data("{ not json".utf8).write(to: URL(fileURLWithPath: cli.home.path + "/store/" + key))

        let ls = try cli.run(["ls", "docs"])
        #expect(ls.status == 1, "\(ls.stderr)")
        let lines = ls.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 2 && lines[0].hasPrefix("v1\t") && lines[1].hasPrefix("v2\tmalformed ref \(key)"), "\(ls.stdout)")
        #expect(ls.stderr.contains("malformed ref \(key)"))
        let lsJSON = try cli.run(["ls", "docs", "--json"])
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(lsJSON.stdout.utf8)) as? [[String: Any]])
        #expect(rows.count == 2 && rows[0]["manifest"] is String && (rows[1]["malformed"] as? String)?.contains(key) == true)
        let projects = try cli.run(["ls"])
        #expect(projects.status == 1 && projects.stdout.contains("docs\t1 version, 1 malformed ref"), "\(projects.stdout)")

        let stats = try cli.run(["stats", "--json"])
        #expect(stats.status == 0)
        #expect(try cli.json(stats.stdout)["versions"] as? Int == 1)
        #expect(stats.stderr.contains("warning: skipped malformed ref \(key)"))

        let verify = try cli.run(["verify", "--json"])
        #expect(verify.status == 1)
        let report = try cli.json(verify.stdout)
        #expect(report["versions"] as? Int == 1)
        let problems = report["problems"] as? [[String: Any]] ?? []
        #expect(problems.count == 1 && problems.first?["object"] as? String == key, "\(problems)")
    }

    @Test func exitCodesMeanSomething() throws {
        let cli = try TroveCLI()
        let t = try cli.tree("b")
        #expect(try cli.run(["publish", "docs", "v", t]).status == 0)
        let missing = try cli.run(["cat", "nope", "v", "x"])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("no published version nope/v"))
        #expect(try cli.run(["cat", "docs", "v", "html/missing.html"]).stderr.contains("no file html/missing.html"))

        mkfifo(t + "/html/fifo", 0o644)
        let bad = try cli.run(["publish", "docs", "v", t])
        #expect(bad.status == 65) // html is the only media type and it failed: nothing to switch
        #expect(bad.stdout.contains("html/fifo: is a FIFO"))
        #expect(bad.stdout.contains("NOT published docs/v"))
        try FileManager.default.createDirectory(atPath: t + "/pdf", withIntermediateDirectories: true)
        try Data("%PDF".utf8).write(to: URL(fileURLWithPath: t + "/pdf/doc.pdf"))
        let partial = try cli.run(["publish", "docs", "v", t])
        #expect(partial.status == 3) // pdf published, html failed and kept its previous content
        #expect(partial.stdout.contains("html kept-previous"))

        let plain = cli.home.path + "/plain"
        try FileManager.default.createDirectory(atPath: plain, withIntermediateDirectories: true)
        try Data("x".utf8).write(to: URL(fileURLWithPath: plain + "/a.txt"))
        mkfifo(plain + "/fifo", 0o644)
        let whole = try cli.run(["publish", "other", "v", plain])
        #expect(whole.status == 65)
        #expect(whole.stdout.contains("NOT published other/v"))

        #expect(try cli.run(["publish", "../x", "v", t]).status == 64)
        #expect(try cli.run(["publish", "docs", "v", cli.home.path + "/does-not-exist"]).status == 65)
        #expect(try cli.run(["ls", "--store", "ftp://x/y"]).stderr.contains("unknown store scheme ftp://"))
    }

    @Test func configFileLayering() throws {
        var cli = try TroveCLI()
        cli.environment["TROVE_STORE"] = nil
        let cfg = cli.home.path + "/trove.yaml"
        try Data("store: file://\(cli.home.path)/from-config\npublish:\n  pack_size: 1MiB\n".utf8).write(to: URL(fileURLWithPath: cfg))
        let t = try cli.tree("b")
        #expect(try cli.run(["publish", "p", "v", t, "--config", cfg]).status == 0)
        #expect(FileManager.default.fileExists(atPath: cli.home.path + "/from-config/refs/p/versions/v"))
        // Environment beats the file, flags beat the environment.
        #expect(try cli.run(["publish", "p", "v", t, "--config", cfg], env: ["TROVE_STORE": "file://\(cli.home.path)/from-env"]).status == 0)
        #expect(FileManager.default.fileExists(atPath: cli.home.path + "/from-env/refs/p/versions/v"))
        #expect(try cli.run(["publish", "p", "v", t, "--config", cfg, "--store", "file://\(cli.home.path)/from-flag"], env: ["TROVE_STORE": "file://\(cli.home.path)/from-env"]).status == 0)
        #expect(FileManager.default.fileExists(atPath: cli.home.path + "/from-flag/refs/p/versions/v"))
    }

    @Test func shippedExampleConfigIsValid() throws {
        let cli = try TroveCLI()
        let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("config/trove.yaml").path
        let r = try cli.run(["ls", "--config", example, "--store", "memory://"])
        #expect(r.status == 0, "\(r.stderr)")
    }

    @Test(arguments: [
        ("publish:\n  pack_sise: 4MiB\n", "unknown key 'publish.pack_sise'"),
        ("publish:\n  pack_size: lots\n", "key 'publish.pack_size' must be a size"),
        ("store: [unclosed\n", "not valid YAML"),
        ("- just\n- a list\n", "top level must be a mapping"),
        ("publish:\n  dictionary: maybe\n", "key 'publish.dictionary' must be true or false"),
        ("publish:\n  main_content_selectors: \"div p\"\n", "main-content selector 'div p': combinators are not supported"),
    ])
    func malformedConfigIsAnErrorNamingTheKey(config: String, message: String) throws {
        let cli = try TroveCLI()
        let cfg = cli.home.path + "/bad.yaml"
        try Data(config.utf8).write(to: URL(fileURLWithPath: cfg))
        let r = try cli.run(["ls", "--config", cfg])
        #expect(r.status == 64)
        #expect(r.stderr.contains(message), "\(r.stderr)")
        #expect(try cli.run(["ls", "--config", cli.home.path + "/absent.yaml"]).stderr.contains("does not exist"))
    }

    @Test func corruptPackMakesCatFailNamingTheDigest() throws {
        let cli = try TroveCLI()
        let t = try cli.tree("b", pages: 3)
        #expect(try cli.run(["publish", "p", "v", t]).status == 0)
        let packs = cli.home.path + "/store/packs"
        let pack = try #require(FileManager.default.subpathsOfDirectory(atPath: packs).first { $0.count > 60 })
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: packs + "/" + pack)))
        for i in stride(from: 0, to: bytes.count / 2, by: 16) { bytes[i] ^= 0xff } // every chunk's payload
        try Data(bytes).write(to: URL(fileURLWithPath: packs + "/" + pack))
        let r = try cli.run(["cat", "p", "v", "html/p0.html"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("corrupt chunk"))
        #expect(r.stdout.isEmpty, "wrong bytes were written: \(r.stdout.prefix(80))")
    }
}
