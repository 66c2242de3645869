import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Settings, store locations and names from outside are input (issue 12, items 8–16): a value that
/// does not fit is exit 64 naming the setting, never a trap; messages are one line naming the path and
/// the cause; nothing escapes onto the terminal raw.
@Suite struct UntrustedSettingsTests {
    /// A CLI with one published version (so the store carries its marker).
    static func published() throws -> (TroveCLI, String) {
        let cli = try TroveCLI()
        let t = try cli.tree("b", pages: 3)
        let r = try cli.run(["publish", "p", "v", t])
        #expect(r.status == 0, "\(r.stderr)")
        return (cli, t)
    }

    func write(_ text: String, to path: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    }

    // MARK: 8. Numbers that do not fit

    @Test(arguments: [
        (["sign-url", "p", "v", "html/p0.html", "--expires", "9999999999999999d"], [:], "--expires"),
        (["sign-url", "p", "v", "html/p0.html", "--expires", "inf"], [:], "--expires"),
        (["gc", "--grace", "99999999999999999d"], [:], "--grace"),
        (["gc", "--grace", "36501d"], [:], "--grace"),
        (["gc", "--keep-within", "1e300s"], [:], "--keep-within"),
        (["gc", "--every", "1h", "--jitter", "99999999999999999d"], [:], "--jitter"),
        (["gc", "--every", "99999999999999999d"], [:], "--every"),
        (["gc", "--lease-wait", "99999999999999999d"], [:], "--lease-wait"),
        (["ls"], ["TROVE_RETRY_TIMEOUT": "9999999999999999d"], "TROVE_RETRY_TIMEOUT"),
        (["ls"], ["TROVE_GC_GRACE": "99999999999999999d"], "TROVE_GC_GRACE"),
        (["ls"], ["TROVE_GC_KEEP_WITHIN": "9223372036854775807s"], "TROVE_GC_KEEP_WITHIN"),
        (["ls"], ["TROVE_SERVE_REF_TTL": "9999999999999999d"], "TROVE_SERVE_REF_TTL"),
        (["ls"], ["TROVE_SERVE_IDLE_TIMEOUT": "9999999999999999d"], "TROVE_SERVE_IDLE_TIMEOUT"),
        (["ls"], ["TROVE_SERVE_CACHE_BYTES": "99999999999999GiB"], "TROVE_SERVE_CACHE_BYTES"),
        (["ls"], ["TROVE_PUBLISH_INDEX_VERSIONS": "-1"], "TROVE_PUBLISH_INDEX_VERSIONS"),
        (["ls"], ["TROVE_PUBLISH_UPLOADS": "0"], "TROVE_PUBLISH_UPLOADS"),
        (["ls"], ["TROVE_GC_KEEP_BUILDS": "99999999999999999999"], "TROVE_GC_KEEP_BUILDS"),
        (["ls", "--store", "s3://bucket/prefix"], ["AWS_REGION": "us east"], "AWS_REGION"),
        (["ls", "--store", "s3://bucket/prefix?region=a%20b"], [:], "?region="),
        (["ls", "--store", "s3://bucket/prefix?max_connections=99999999999999999999999"], [:], "max_connections"),
    ] as [([String], [String: String], String)])
    func numbersThatDoNotFitAreExit64NamingTheSetting(args: [String], env: [String: String], name: String) throws {
        let (cli, _) = try Self.published()
        var extra = env
        extra["TROVE_SERVE_SIGNING_KEY"] = "k"
        extra["AWS_ACCESS_KEY_ID"] = "id"
        extra["AWS_SECRET_ACCESS_KEY"] = "secret"
        let r = try cli.run(args, env: extra)
        #expect(r.status == 64, "\(args) \(env): \(r.status) \(r.stderr)")
        #expect(r.stderr.contains(name), "\(r.stderr)")
        #expect(r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
    }

    @Test func everyConfigDurationIsCheckedWhenTheFileIsRead() throws {
        let (cli, _) = try Self.published()
        for (section, key) in [("retry", "timeout"), ("gc", "grace"), ("gc", "keep_within"), ("serve", "ref_ttl"), ("serve", "idle_timeout")] {
            let cfg = cli.home.path + "/\(key).yaml"
            try write("\(section):\n  \(key): 9999999999999999d\n", to: cfg)
            let r = try cli.run(["ls", "--config", cfg])
            #expect(r.status == 64, "\(key): \(r.stderr)")
            #expect(r.stderr.contains("key '\(section).\(key)' must be a duration"), "\(r.stderr)")
        }
    }

    @Test func durationsAndSizesInRangeStillWork() throws {
        let (cli, _) = try Self.published()
        let r = try cli.run(["gc", "--dry-run", "--grace", "1.5h", "--keep-within", "36500d", "--lease-wait", "250ms"],
                            env: ["TROVE_RETRY_TIMEOUT": "30s", "TROVE_PUBLISH_PACK_SIZE": "1MiB"])
        #expect(r.status == 0, "\(r.stderr)")
    }

    // MARK: 9. Variables are checked exactly like the file and the flags

    @Test(arguments: [
        ("publish.jobs", "TROVE_PUBLISH_JOBS", "--jobs", "abc"),
        ("publish.jobs", "TROVE_PUBLISH_JOBS", "--jobs", "-3"),
        ("publish.dictionary", "TROVE_PUBLISH_DICTIONARY", nil, "maybe"),
        ("retry.max_attempts", "TROVE_RETRY_MAX_ATTEMPTS", nil, "-3"),
        ("publish.pack_size", "TROVE_PUBLISH_PACK_SIZE", "--pack-size", "lots"),
        ("gc.keep_builds", "TROVE_GC_KEEP_BUILDS", "--keep-builds", "0"),
    ] as [(String, String, String?, String)])
    func variablesFlagsAndTheFileFailAlike(key: String, variable: String, flag: String?, value: String) throws {
        let (cli, t) = try Self.published()
        let parts = key.split(separator: ".")
        let cfg = cli.home.path + "/c.yaml"
        try write("\(parts[0]):\n  \(parts[1]): \"\(value)\"\n", to: cfg)
        let command = key.hasPrefix("gc.") ? ["gc", "--dry-run"] : ["publish", "p", "v", t]
        let fromFile = try cli.run(command + ["--config", cfg])
        let fromVariable = try cli.run(command, env: [variable: value])
        #expect(fromFile.status == 64, "\(fromFile.stderr)")
        #expect(fromVariable.status == 64, "\(fromVariable.stderr)")
        #expect(fromVariable.stderr.contains("\(variable) must be"), "\(fromVariable.stderr)")
        // The same words after the source: one parser.
        let tail = { (s: String) in s.components(separatedBy: " must be ").last ?? "" }
        #expect(tail(fromFile.stderr) == tail(fromVariable.stderr))
        // A variable is checked even by a command that does not use it.
        #expect(try cli.run(["ls"], env: [variable: value]).status == 64)
        if let flag {
            let fromFlag = try cli.run(command + ["\(flag)=\(value)"])
            #expect(fromFlag.status == 64, "\(fromFlag.stderr)")
            #expect(tail(fromFlag.stderr) == tail(fromVariable.stderr), "\(fromFlag.stderr)")
        }
    }

    @Test func booleanWordsMeanTheSameEverywhere() throws {
        let cli = try TroveCLI()
        let t = cli.home.path + "/zips"
        try FileManager.default.createDirectory(atPath: t + "/htmlzip", withIntermediateDirectories: true)
        let script = """
        import zipfile, random
        r = random.Random(1)
        with zipfile.ZipFile('\(t)/htmlzip/docs.zip', 'w', zipfile.ZIP_STORED) as z:
            for i in range(4):
                z.writestr('page%d.html' % i, bytes(r.getrandbits(8) for _ in range(40000)))
        """
        let py = Process()
        py.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        py.arguments = ["python3", "-c", script]
        try py.run()
        py.waitUntilExit()
        try #require(py.terminationStatus == 0)
        func containers(_ env: [String: String]) throws -> Int {
            let r = try cli.run(["publish", "z\(env.count)\(env.values.first ?? "")", "v", t, "--json"], env: env)
            #expect(r.status == 0, "\(r.stderr)")
            return try cli.json(r.stdout)["containerFiles"] as? Int ?? -1
        }
        #expect(try containers([:]) == 1)
        for no in ["no", "false", "off", "0", "NO"] { #expect(try containers(["TROVE_PUBLISH_ZIP_AWARE": no]) == 0, "\(no)") }
        for yes in ["yes", "true", "on", "1"] { #expect(try containers(["TROVE_PUBLISH_ZIP_AWARE": yes]) == 1, "\(yes)") }
        let cfg = cli.home.path + "/c.yaml"
        try write("publish:\n  zip_aware: no\n", to: cfg)
        let r = try cli.run(["publish", "zfile", "v", t, "--json", "--config", cfg])
        #expect(try cli.json(r.stdout)["containerFiles"] as? Int == 0)
    }

    // MARK: 10. serve.private_projects

    @Test(arguments: ["secret;secret2", "secret secret2", "Secret,secret3/", "../x", "a,,b,-c"])
    func privateProjectsThatAreNotNamesAreExit64(value: String) throws {
        let (cli, _) = try Self.published()
        let (fd, port) = try Self.listeningSocket() // busy: a serve that got past its settings would stop there
        defer { close(fd) }
        let r = try cli.run(["serve", "--listen", "127.0.0.1:\(port)"], env: ["TROVE_SERVE_PRIVATE_PROJECTS": value])
        #expect(r.status == 64, "\(r.stderr)")
        #expect(r.stderr.contains("TROVE_SERVE_PRIVATE_PROJECTS must be comma-separated project names"), "\(r.stderr)")
    }

    /// A listed project that does not exist gets a warning; a busy listen address is one line and exit 1
    /// (and makes this test end without a running server).
    @Test func unknownPrivateProjectsAreWarnedAboutAndABusyPortIsOneLine() throws {
        let (cli, _) = try Self.published()
        let (fd, port) = try Self.listeningSocket()
        defer { close(fd) }
        let cfg = cli.home.path + "/c.yaml"
        try write("serve:\n  private_projects: [p, typo-project]\n", to: cfg)
        let r = try cli.run(["serve", "--listen", "127.0.0.1:\(port)", "--config", cfg])
        #expect(r.status == 1, "\(r.stderr)")
        #expect(r.stderr.contains("cannot listen on 127.0.0.1:\(port): Address already in use (--listen)"), "\(r.stderr)")
        #expect(!r.stderr.contains("NIO"), "\(r.stderr)")
        let warnings = r.stderr.split(separator: "\n").filter { $0.contains("private_projects") }
        #expect(warnings.count == 1, "\(r.stderr)")
        #expect(warnings.first?.contains("typo-project") == true)
    }

    static func listeningSocket() throws -> (Int32, Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && listen(fd, 1) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard ok else { close(fd); throw POSIXError(.EADDRINUSE) }
        return (fd, Int(UInt16(bigEndian: addr.sin_port)))
    }

    // MARK: 11. Config files: bounded

    @Test func billionLaughsConfigIsRefusedAtOnce() throws {
        let (cli, _) = try Self.published()
        var yaml = "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
        var previous = "a"
        for name in ["b", "c", "d", "e", "f", "g", "h", "i"] {
            yaml += "\(name): &\(name) [" + Array(repeating: "*\(previous)", count: 9).joined(separator: ",") + "]\n"
            previous = name
        }
        let cfg = cli.home.path + "/lol.yaml"
        try write(yaml, to: cfg)
        let r = try cli.run(["ls", "--config", cfg])
        #expect(r.status == 64, "\(r.stderr)")
        #expect(r.stderr.contains("anchors and aliases"), "\(r.stderr)")
        // The same under a known key, and as a complex mapping key (hashed by the YAML library).
        try write("serve:\n  tokens: &t x\n  signing_key: *t\n", to: cfg)
        #expect(try cli.run(["ls", "--config", cfg]).stderr.contains("line 2"))
        try write("serve: {? *x : 1}\n", to: cfg)
        #expect(try cli.run(["ls", "--config", cfg]).status == 64)
        // Quoted and mid-word & and * are plain text.
        try write("serve:\n  tokens: \"&amp*\"\n  cache_control: 'public, *'\n  signing_key: a&b*c\n", to: cfg)
        let fine = try cli.run(["ls", "--config", cfg])
        #expect(fine.status == 0, "\(fine.stderr)")
    }

    @Test func configFilesAreCapped() throws {
        let (cli, _) = try Self.published()
        let cfg = cli.home.path + "/big.yaml"
        try write("# " + String(repeating: "x", count: 70_000) + "\nstore: memory://\n", to: cfg)
        let r = try cli.run(["ls", "--config", cfg])
        #expect(r.status == 64)
        #expect(r.stderr.contains("at most 64 KiB"), "\(r.stderr)")
    }

    // MARK: 12. Store locations

    @Test func emptyOrMalformedStoreLocationsAreExit64AndCreateNothing() throws {
        var cli = try TroveCLI()
        let cwd = cli.home.path + "/cwd"
        try FileManager.default.createDirectory(atPath: cwd, withIntermediateDirectories: true)
        for (args, env) in [(["ls"], ["TROVE_STORE": ""]), (["gc", "--grace", "1h"], ["TROVE_STORE": ""]),
                            (["ls", "--store", ""], [:]), (["ls", "--store", " "], [:]), (["ls", "--store", "file:relative/x"], [:]),
                            (["ls", "--store", "file:///"], [:]), (["ls", "--store", "/"], [:]), (["ls", "--store", "relative"], [:]),
                            (["ls", "--store", "file://"], [:]), (["ls", "--store", " /tmp/x"], [:])] as [([String], [String: String])] {
            let r = try cli.run(args, env: env, cwd: cwd)
            #expect(r.status == 64, "\(args) \(env): \(r.stderr)")
            #expect(r.stderr.hasPrefix("trove: store ("), "\(r.stderr)")
            let publish = try cli.run(["publish", "p", "v", try cli.tree("tree", pages: 1)] + args.dropFirst(args.first == "gc" ? 3 : 1), env: env, cwd: cwd)
            #expect(publish.status == 64, "\(args): \(publish.stderr)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: cwd).isEmpty)
        // file:/abs is an absolute file URL: the same store as file:///abs.
        cli.environment["TROVE_STORE"] = nil
        let t = try cli.tree("t2", pages: 1)
        #expect(try cli.run(["publish", "p", "v", t, "--store", "file:\(cli.home.path)/abs"]).status == 0)
        #expect(try cli.run(["ls", "--store", "file://\(cli.home.path)/abs"]).stdout.contains("p\t1 version"))
        #expect(try cli.run(["ls", "--store", "./abs"], cwd: cli.home.path).stdout.contains("p\t1 version"))
    }

    @Test func onlyPublishOrInitMakeAStoreAndGCRefusesAnythingElse() throws {
        let cli = try TroveCLI()
        // A directory that merely looks like a store: digest-named files under packs/ and dicts/, old.
        let dir = cli.home.path + "/notastore"
        let name = String(repeating: "ab", count: 32)
        let victims = [dir + "/packs/ab/" + name, dir + "/dicts/" + name]
        for v in victims {
            try FileManager.default.createDirectory(atPath: (v as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try write("precious", to: v)
            try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: 1_000_000)], ofItemAtPath: v)
        }
        let (fd, port) = try Self.listeningSocket()
        defer { close(fd) }
        for command in [["gc", "--grace", "0s"], ["ls"], ["verify"], ["stats"], ["serve", "--listen", "127.0.0.1:\(port)"], ["alias", "p"]] {
            let r = try cli.run(command + ["--store", "file://" + dir])
            #expect(r.status == 64, "\(command): \(r.stderr)")
            #expect(r.stderr.contains("is not a Trove store (no trove-store.json)"), "\(r.stderr)")
        }
        for v in victims { #expect(FileManager.default.fileExists(atPath: v)) }
        // Reading a location that does not exist creates nothing there.
        #expect(try cli.run(["ls", "--store", "file://\(cli.home.path)/nothing"]).status == 64)
        #expect(!FileManager.default.fileExists(atPath: cli.home.path + "/nothing"))
        // `trove init` marks it; then gc runs (and the fake blobs, unreferenced, are collected).
        let initialised = try cli.run(["init", "--store", "file://" + dir])
        #expect(initialised.status == 0, "\(initialised.stderr)")
        #expect(initialised.stdout.contains("is now a Trove store"))
        #expect(FileManager.default.fileExists(atPath: dir + "/trove-store.json"))
        #expect(try cli.run(["init", "--store", "file://" + dir]).stdout.contains("already a Trove store"))
        #expect(try cli.run(["gc", "--grace", "0s", "--store", "file://" + dir]).status == 0)
        // publish makes a store of a fresh location.
        let t = try cli.tree("b", pages: 1)
        #expect(try cli.run(["publish", "p", "v", t, "--store", "file://\(cli.home.path)/fresh"]).status == 0)
        #expect(FileManager.default.fileExists(atPath: cli.home.path + "/fresh/trove-store.json"))
        // A marker that is not Trove's is not taken for one.
        try write("{\"format\": \"something-else\"}", to: cli.home.path + "/fresh/trove-store.json")
        let foreign = try cli.run(["ls", "--store", "file://\(cli.home.path)/fresh"])
        #expect(foreign.status == 64 && foreign.stderr.contains("not a Trove store marker"), "\(foreign.stderr)")
    }

    // MARK: 14. Names from a build tree reach the terminal escaped

    @Test func publishErrorListEscapesControlCharacters() throws {
        let cli = try TroveCLI()
        let t = try cli.tree("b", pages: 1)
        let evil = "evil\n\u{1B}]0;owned\u{07}\u{1B}[2J.html"
        #expect(mkfifo(t + "/html/" + evil, 0o644) == 0)
        let r = try cli.run(["publish", "p", "v", t])
        #expect(r.status == 65)
        #expect(!r.stdout.contains("\u{1B}") && !r.stdout.contains("\u{07}"), "\(r.stdout.debugDescription)")
        #expect(r.stdout.contains("    html/evil\\n\\u{1B}]0;owned\\u{7}\\u{1B}[2J.html: "), "\(r.stdout)")
        // --json keeps the name exact (JSON escapes it).
        let json = try cli.run(["publish", "p", "v", t, "--json"])
        let errors = try cli.json(json.stdout)["errors"] as? [[String: Any]]
        #expect(errors?.first?["path"] as? String == "html/" + evil)
    }

    // MARK: 15. One-line messages naming the path and the cause

    @Test func exportDestinationsThatAreNotDirectories() throws {
        let (cli, _) = try Self.published()
        let file = cli.home.path + "/a-file"
        try write("x", to: file)
        for dest in [file, "/dev/null", file + "/below"] {
            let r = try cli.run(["export", "p", "v", dest])
            #expect(r.status == 64 || r.status == 1, "\(dest): \(r.stderr)")
            #expect(!r.stderr.contains("NSCocoaErrorDomain") && !r.stderr.contains("Error Domain"), "\(r.stderr)")
            #expect(r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
            #expect(r.stderr.contains(dest) || r.stderr.contains(file), "\(r.stderr)")
        }
        #expect(try cli.run(["export", "p", "v", file]).stderr.contains("exists and is not a directory"))
        #expect(try cli.run(["export", "p", "v", file + "/below"]).stderr.contains("Not a directory"))
    }

    @Test func aFailedExportLeavesNothingBehind() throws {
        let (cli, _) = try Self.published()
        let packs = cli.home.path + "/store/packs"
        let pack = try #require(FileManager.default.subpathsOfDirectory(atPath: packs).first { $0.count > 60 })
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: packs + "/" + pack)))
        for i in stride(from: 0, to: bytes.count / 2, by: 16) { bytes[i] ^= 0xff }
        try Data(bytes).write(to: URL(fileURLWithPath: packs + "/" + pack))
        let parent = cli.home.path + "/exports"
        try FileManager.default.createDirectory(atPath: parent + "/empty", withIntermediateDirectories: true)
        let fresh = try cli.run(["export", "p", "v", parent + "/new"])
        #expect(fresh.status == 1, "\(fresh.stderr)")
        #expect(fresh.stderr.contains("nothing was left at \(parent)/new"), "\(fresh.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: parent) == ["empty"])
        let inPlace = try cli.run(["export", "p", "v", parent + "/empty"])
        #expect(inPlace.status == 1)
        #expect(inPlace.stderr.contains("was emptied again"), "\(inPlace.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: parent + "/empty").isEmpty)
    }

    @Test func unusableCacheDirectoryIsExit64NamingIt() throws {
        let (cli, _) = try Self.published()
        let file = cli.home.path + "/cache-file"
        try write("x", to: file)
        for (dir, why) in [(file, "not a directory"), (file + "/sub", "Not a directory")] {
            let r = try cli.run(["ls", "p"], env: ["TROVE_CACHE_DIR": dir])
            #expect(r.status == 64, "\(r.stderr)")
            #expect(r.stderr.contains("cache directory \(dir) (TROVE_CACHE_DIR)") && r.stderr.contains(why), "\(r.stderr)")
            #expect(!r.stderr.contains("Error Domain"))
        }
    }

    /// A store object the system refuses to read (here a directory where a pack should be: EISDIR) is a
    /// permanent error: reported at once as exit 1, not retried and called "unreachable" (69).
    @Test func permanentLocalErrorsAreNotRetried() throws {
        let (cli, _) = try Self.published()
        let packs = cli.home.path + "/store/packs"
        let pack = try #require(FileManager.default.subpathsOfDirectory(atPath: packs).first { $0.count > 60 })
        try FileManager.default.removeItem(atPath: packs + "/" + pack)
        try FileManager.default.createDirectory(atPath: packs + "/" + pack, withIntermediateDirectories: true)
        let r = try cli.run(["cat", "p", "v", "html/p0.html", "-v"])
        #expect(r.status == 1, "\(r.stderr)")
        #expect(r.stderr.contains("\(pack): Is a directory"), "\(r.stderr)")
        #expect(!r.stderr.contains("retrying") && !r.stderr.contains("gave up"), "\(r.stderr)")
    }

    // MARK: 16. Symlinks inside a version

    @Test func catFollowsSymlinksInsideTheVersionOnly() throws {
        let cli = try TroveCLI()
        let t = try cli.tree("b", pages: 2)
        let fm = FileManager.default
        try fm.createSymbolicLink(atPath: t + "/html/flink.html", withDestinationPath: "p1.html")
        try fm.createDirectory(atPath: t + "/html/sub", withIntermediateDirectories: true)
        try write("deep\n", to: t + "/html/sub/f.txt")
        try fm.createSymbolicLink(atPath: t + "/html/dirlink", withDestinationPath: "sub")
        try fm.createSymbolicLink(atPath: t + "/html/chain", withDestinationPath: "dirlink/../flink.html")
        #expect(try cli.run(["publish", "p", "v", t]).status == 0)
        let page = try String(contentsOfFile: t + "/html/p1.html", encoding: .utf8)
        #expect(try cli.run(["cat", "p", "v", "html/flink.html"]).stdout == page)
        #expect(try cli.run(["cat", "p", "v", "html/dirlink/f.txt"]).stdout == "deep\n")
        #expect(try cli.run(["cat", "p", "v", "html/chain"]).stdout == page)
        let dir = try cli.run(["cat", "p", "v", "html/dirlink"])
        #expect(dir.status == 1 && dir.stderr.contains("no file html/dirlink"))
    }
}
