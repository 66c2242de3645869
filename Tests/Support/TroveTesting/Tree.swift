import Foundation
import TroveContent
import TroveRepository
import TroveStorage

/// A build tree in memory: relative path → file bytes. The round-trip fixtures write one to disk,
/// publish it, and compare what an export gives back with it.
public typealias Tree = [String: [UInt8]]

/// A fresh scratch directory under the system's temporary directory (`trove-tests/<name>-<id>`).
public func tempDir(_ name: String) -> URL {
    let u = FileManager.default.temporaryDirectory.appendingPathComponent("trove-tests/\(name)-\(UUID().uuidString.prefix(8))")
    try? FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
    return u
}

/// Writes every file of `tree` below `dir`, creating folders on the way.
public func writeTree(_ tree: Tree, to dir: URL) throws {
    for (path, bytes) in tree {
        let u = dir.appendingPathComponent(path)
        try FileManager.default.createDirectory(at: u.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(bytes).write(to: u)
    }
}

/// Every regular file below `dir` (folders are implied by the paths).
public func readTree(_ dir: URL) throws -> Tree {
    var out: Tree = [:]
    let e = FileManager.default.enumerator(atPath: dir.path)!
    while let p = e.nextObject() as? String {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: dir.appendingPathComponent(p).path, isDirectory: &isDir), !isDir.boolValue {
            out[p] = Array(try Data(contentsOf: dir.appendingPathComponent(p)))
        }
    }
    return out
}

/// Exports a build through a fresh repository (no manifest cache) and reads it back: the far end of a
/// round trip.
public func exported(_ store: any BlobStore, manifest: Digest) async throws -> Tree {
    let repo = Repository(store: store, cacheDirectory: tempDir("cache"))
    let dir = tempDir("export")
    defer { try? FileManager.default.removeItem(at: dir) }
    let m = try await repo.manifest(manifest)
    _ = try await Exporter(repository: repo).export(m, to: dir.path + "/out")
    return try readTree(dir.appendingPathComponent("out"))
}
