import Foundation
import TroveContent
import TroveRepository
import TroveStorage
@testable import TrovePublish

/// A scratch directory with a local store, a cache and helpers to build trees.
final class Fixture: @unchecked Sendable {
    let root: URL
    let metered: MeteredBlobStore
    let repository: Repository

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("trove-pub-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        metered = MeteredBlobStore(try LocalBlobStore(root: root.appendingPathComponent("store")))
        repository = Repository(store: metered, cacheDirectory: root.appendingPathComponent("cache"))
    }

    deinit { try? FileManager.default.removeItem(at: root) }

    var storeRoot: String { root.appendingPathComponent("store").path }

    func dir(_ name: String) -> String {
        let p = root.appendingPathComponent(name).path
        try? FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: true)
        return p
    }

    func write(_ tree: String, _ rel: String, _ bytes: [UInt8], mode: Int = 0o644) throws {
        let p = tree + "/" + rel
        try FileManager.default.createDirectory(atPath: (p as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(bytes).write(to: URL(fileURLWithPath: p))
        chmod(p, mode_t(mode))
    }

    func write(_ tree: String, _ rel: String, _ text: String) throws { try write(tree, rel, Array(text.utf8)) }

    func publish(_ project: String, _ version: String, _ tree: String, options: PublishOptions = PublishOptions()) async throws -> PublishReport {
        var o = options
        o.buildTime = o.buildTime ?? Date(timeIntervalSince1970: 1_700_000_000)
        return try await Publisher(repository: repository, options: o).publish(project: project, version: version, from: tree)
    }

    /// Exports a version and returns the destination.
    func export(_ project: String, _ version: String) async throws -> String {
        let dest = root.appendingPathComponent("export-\(UUID().uuidString)").path
        let m = try await repository.openVersion(project, version)
        _ = try await Exporter(repository: repository).export(m, to: dest)
        return dest
    }

    /// `diff -r --no-dereference` exit status (0 = identical), plus a mode comparison.
    func identical(_ a: String, _ b: String) throws -> Bool {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/diff")
        p.arguments = ["-r", "--no-dereference", a, b]
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { return false }
        let fm = FileManager.default
        for rel in try fm.subpathsOfDirectory(atPath: a) {
            let ma = try fm.attributesOfItem(atPath: a + "/" + rel)[.posixPermissions] as? Int
            let mb = try fm.attributesOfItem(atPath: b + "/" + rel)[.posixPermissions] as? Int
            if ma != mb { return false }
        }
        return true
    }

    func packFiles() throws -> [String] {
        let base = storeRoot + "/packs"
        return (try FileManager.default.subpathsOfDirectory(atPath: base)).filter { $0.count > 60 }.map { base + "/" + $0 }
    }
}

/// A documentation-like page: shared boilerplate, a unique body, a dated footer.
func page(_ i: Int, date: String, bodyWords: Int = 4000) -> String {
    var g = UInt64(i + 1) &* 0x9E37_79B9_7F4A_7C15
    let words = ["module", "function", "returns", "the", "parameter", "class", "instance", "value", "config", "option", "example", "default", "string", "list", "raises", "error"]
    var body = ""
    for w in 0..<bodyWords {
        g ^= g << 13; g ^= g >> 7; g ^= g << 17
        body += words[Int(g % UInt64(words.count))] + (w % 12 == 11 ? ".\n" : " ")
    }
    return """
    <!DOCTYPE html><html><head><meta charset="utf-8"><title>Page \(i)</title>
    <link rel="stylesheet" href="_static/theme.css"><script src="_static/doctools.js"></script></head>
    <body><nav class="sidebar"><a href="index.html">Home</a> <a href="api.html">API</a> <a href="guide.html">Guide</a></nav>
    <div class="body"><h1>Section \(i)</h1><p>\(body)</p></div>
    <footer>© Copyright 2026. Last updated on \(date). Built with Sphinx.</footer></body></html>
    """
}
