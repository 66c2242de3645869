import Foundation
import Testing
import TroveTesting
#if canImport(Glibc)
import Glibc
#endif

/// Runs the built `trove` binary as a user would: `<package root>/.build/debug/trove`, or `$TROVE_BIN`.
/// `make test` runs `swift build --build-tests` first, so the binary is there and current.
enum TroveBinary {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    static var path: String {
        ProcessInfo.processInfo.environment["TROVE_BIN"] ?? packageRoot.appendingPathComponent(".build/debug/trove").path
    }

    static func require() throws -> String {
        let p = path
        guard FileManager.default.isExecutableFile(atPath: p) else {
            throw HarnessError("no trove binary at \(p): build it first (swift build --build-tests, as make test does) or set TROVE_BIN")
        }
        return p
    }
}

struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// What one `trove` run printed and how it ended.
struct RunResult: CustomStringConvertible {
    var status: Int32
    /// True when the process was killed by a signal (`status` is then the signal number).
    var signaled: Bool
    var stdout: String
    var stderr: String
    var seconds: Double

    /// stdout parsed as a JSON object (for `--json` runs).
    func json() throws -> [String: Any] {
        guard let o = try JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any] else {
            throw HarnessError("stdout is not a JSON object: \(stdout.prefix(500))")
        }
        return o
    }

    func jsonArray() throws -> [[String: Any]] {
        guard let o = try JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [[String: Any]] else {
            throw HarnessError("stdout is not a JSON array: \(stdout.prefix(500))")
        }
        return o
    }

    var stderrLines: [Substring] { stderr.split(separator: "\n", omittingEmptySubsequences: true) }

    var description: String { "exit \(signaled ? "signal " : "")\(status) after \(String(format: "%.1f", seconds)) s\nstdout: \(stdout.prefix(2000))\nstderr: \(stderr.prefix(2000))" }
}

/// A started `trove` process, for tests that kill it midway.
final class TroveProcess: @unchecked Sendable {
    let process = Process()
    let out: String, err: String
    private let started = ContinuousClock.now
    private let done: Task<Void, Never>

    init(_ arguments: [String], environment: [String: String], workDir: String) throws {
        let tag = UUID().uuidString.prefix(8)
        out = workDir + "/trove-\(tag).out"
        err = workDir + "/trove-\(tag).err"
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        _ = FileManager.default.createFile(atPath: err, contents: nil)
        process.executableURL = URL(fileURLWithPath: try TroveBinary.require())
        process.arguments = arguments
        process.environment = environment
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle(forWritingAtPath: out)
        process.standardError = FileHandle(forWritingAtPath: err)
        let (stream, continuation) = AsyncStream<Void>.makeStream()
        process.terminationHandler = { _ in continuation.finish() }
        done = Task { for await _ in stream {} }
        try process.run()
    }

    func kill(_ signal: Int32 = SIGKILL) {
        if process.isRunning { _ = Glibc.kill(process.processIdentifier, signal) }
    }

    /// Waits for the process to end (killing it after `timeout`) and collects its output.
    func wait(timeout: Duration = .seconds(300)) async -> RunResult {
        let watchdog = Task { [self] in
            try? await Task.sleep(for: timeout)
            if !Task.isCancelled { kill() }
        }
        await done.value
        watchdog.cancel()
        let secs = (ContinuousClock.now - started)
        return RunResult(status: process.terminationStatus, signaled: process.terminationReason == .uncaughtSignal,
                         stdout: (try? String(contentsOfFile: out, encoding: .utf8)) ?? "",
                         stderr: (try? String(contentsOfFile: err, encoding: .utf8)) ?? "",
                         seconds: Double(secs.components.seconds) + Double(secs.components.attoseconds) / 1e18)
    }
}

/// A generated Sphinx-like documentation build: `pages` HTML pages sharing boilerplate, static assets,
/// images, a symlink, and a `binaryMiB` PDF of incompressible bytes. `variant` changes some page bodies.
struct DocsTree {
    static func write(to root: String, pages: Int = 320, binaryMiB: Int = 3, variant: Int = 0, seed: UInt64 = 1) throws {
        let fm = FileManager.default
        func put(_ rel: String, _ bytes: [UInt8]) throws {
            let p = root + "/" + rel
            try fm.createDirectory(atPath: (p as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            guard fm.createFile(atPath: p, contents: Data(bytes)) else { throw HarnessError("cannot write \(p)") }
        }
        let words = ["module", "function", "returns", "the", "parameter", "class", "instance", "value", "config",
                     "option", "example", "default", "string", "list", "raises", "error", "store", "chunk", "pack"]
        var g = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        func next() -> UInt64 { g ^= g << 13; g ^= g >> 7; g ^= g << 17; return g }
        for i in 0..<pages {
            // Bodies of 200–2,000 words: pages from ~2 KiB to ~16 KiB, some of several chunks.
            let count = 200 + Int(next() % 1800)
            var body = ""
            var h = UInt64(i + 1) &* 0x9E37_79B9_7F4A_7C15 &+ (i % 10 == 0 ? UInt64(variant) : 0)
            for w in 0..<count {
                h ^= h << 13; h ^= h >> 7; h ^= h << 17
                body += words[Int(h % UInt64(words.count))] + (w % 12 == 11 ? ".\n" : " ")
            }
            let html = """
            <!DOCTYPE html><html><head><meta charset="utf-8"><title>Page \(i)</title>
            <link rel="stylesheet" href="_static/theme.css"><script src="_static/doctools.js"></script></head>
            <body><nav class="sidebar"><a href="index.html">Home</a> <a href="api.html">API</a></nav>
            <div class="body"><h1>Section \(i)\(i % 10 == 0 && variant != 0 ? " (rev \(variant))" : "")</h1><p>\(body)</p></div>
            <footer>© Copyright 2026. Built with Sphinx.</footer></body></html>
            """
            try put("html/\(i / 100)/page-\(i).html", Array(html.utf8))
        }
        try put("html/index.html", Array("<html><body>index</body></html>\n".utf8))
        try put("html/_static/theme.css", Array(String(repeating: ".body { margin: 0 auto; max-width: 60em; }\n", count: 600).utf8))
        try put("html/_static/searchindex.js", pseudoRandom(150 << 10, seed: seed + 11).map { $0 % 64 + 48 })
        for k in 0..<8 { try put("html/_images/figure-\(k).png", pseudoRandom(24 << 10, seed: seed + 100 + UInt64(k))) }
        try put("html/empty.txt", [])
        try put("pdf/manual.pdf", pseudoRandom(binaryMiB << 20, seed: seed + 7))
        try fm.createSymbolicLink(atPath: root + "/html/latest.html", withDestinationPath: "index.html")
    }
}

/// `diff -r --no-dereference a b` exits 0.
func treesIdentical(_ a: String, _ b: String) throws -> Bool {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/diff")
    p.arguments = ["-r", "--no-dereference", "-q", a, b]
    p.standardOutput = FileHandle.nullDevice
    p.standardError = FileHandle.nullDevice
    try p.run()
    p.waitUntilExit()
    return p.terminationStatus == 0
}

extension Dictionary where Key == String, Value == Any {
    func int(_ key: String) -> Int { (self[key] as? NSNumber)?.intValue ?? (self[key] as? Int) ?? -1 }
    func bool(_ key: String) -> Bool { (self[key] as? NSNumber)?.boolValue ?? (self[key] as? Bool) ?? false }
    func string(_ key: String) -> String? { self[key] as? String }
    func object(_ key: String) -> [String: Any] { self[key] as? [String: Any] ?? [:] }
}
