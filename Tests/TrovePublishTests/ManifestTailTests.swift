import Foundation
import Testing
import CZstd
import TroveContent
import TroveManifest
import TroveRepository
import TroveStorage
@testable import TrovePublish

/// Publish builds its manifest on two threads, locating new chunks as it writes and computing the
/// tree digest alongside (`Repository.prepareManifest(entries:…)`): the stored manifest is the one
/// the plain writer makes from the same tree, and its object is one zstd frame.
@Suite struct ManifestTailTests {
    @Test func publishedManifestIsThePlainWritersBytes() async throws {
        let fx = try Fixture()
        let tree = fx.dir("tree")
        for g in ["html", "pdf", "json"] {
            for i in 0..<120 {
                try fx.write(tree, "\(g)/section-\(i % 7)/page-\(i).html", page(i, date: "2026-01-0\(i % 9 + 1)"))
            }
        }
        try fx.write(tree, "html/empty", [])
        try FileManager.default.createSymbolicLink(atPath: tree + "/html/latest", withDestinationPath: "section-1/page-1.html")
        try FileManager.default.createDirectory(atPath: tree + "/html/empty-dir", withIntermediateDirectories: true)
        let r = try await fx.publish("p", "v1", tree)
        #expect(r.switched && r.errors.isEmpty)
        let hex = try #require(r.manifest)
        let digest = try #require(Digest(hex: hex))

        // The stored object: one zstd frame of the SQLite bytes, named by their digest.
        let object = try await fx.repository.store.get(StoreLayout.manifest(digest))
        let frame = object.withUnsafeBytes { ZSTD_findFrameCompressedSize($0.baseAddress, $0.count) }
        #expect(frame == object.count)
        let sqlite = try ManifestCodec.decode(object, digest: digest, name: "m")

        // The same tree through the plain writer, chunks located beforehand: the same bytes.
        let m = try await fx.repository.manifest(digest)
        let listed = try m.list()
        let plain = try ManifestWriter.encode(tree: try listed.map { ($0, $0.kind == .file ? try m.chunks(of: $0) : []) }, metadata: m.metadata)
        #expect(plain == sqlite)
        #expect(m.metadata.treeDigest == TreeDigest.compute(listed))
    }
}
