import Foundation
import Testing
import TroveStorage

@Suite struct StoreRegistryTests {
    @Test func opensKnownSchemesAndRejectsOthers() throws {
        let r = StoreRegistry()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("trove-reg-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try r.open("file://\(dir)").displayName == "file://\(dir)")
        #expect(try r.open(dir).displayName == "file://\(dir)")
        #expect(try r.open("memory://").displayName == "memory://")
        #expect(throws: StoreURLError.self) { try r.open("ftp://host/x") }
    }

    @Test func fileURLWithAHostIsRejectedNotWrittenElsewhere() throws {
        // file://relative/path parses "relative" as a host; it must not silently mean /path.
        let e = #expect(throws: StoreURLError.self) { try StoreRegistry().open("file://bd/x") }
        #expect(e?.description.contains("three slashes") == true)
        #expect(!FileManager.default.fileExists(atPath: "/x"))
    }

    @Test func invalidKeysAreRejected() throws {
        for bad in ["", "/a", "a/", "a//b", "a/../b", "..", ".", "a/./b", "a b", "a\u{0}b", "ü"] {
            #expect(throws: InvalidKeyError.self, "\(bad.debugDescription)") { try ObjectKey(bad) }
        }
        let raw = "packs/ab/abc-1.2_x@y+z=w" // a variable: a literal would pick init(stringLiteral:)
        let valid = try ObjectKey(raw)
        #expect(valid.segments.count == 3)
    }

    @Test func locationsThatNameNoDirectoryAreRefused() throws {
        let r = StoreRegistry()
        for bad in ["", " ", "\t", "relative", "file:relative/x", "file://", "file:///", "/", "file:///..", " /tmp/x", "/tmp/x "] {
            #expect(throws: StoreURLError.self, "\(bad.debugDescription)") { try r.open(bad) }
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("trove-reg-\(UUID().uuidString)").path
        #expect(try r.open("file:" + dir).displayName == "file://\(dir)")
        #expect(!FileManager.default.fileExists(atPath: dir), "opening must not create the directory")
    }

    /// Errors retrying cannot cure are permanent, so RetryingBlobStore gives up at once.
    @Test func localErrorsThatCannotPassArePermanent() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("trove-perm-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try LocalBlobStore(root: URL(fileURLWithPath: dir))
        _ = try await store.put("a/b", [1, 2, 3])
        try FileManager.default.removeItem(atPath: dir + "/a/b")
        try FileManager.default.createDirectory(atPath: dir + "/a/b", withIntermediateDirectories: true)
        await #expect { _ = try await store.read("a/b", range: nil) } throws: { e in
            guard case BlobStoreError.permanent(let m) = e else { return false }
            return m.contains("a/b: Is a directory")
        }
        // A file where a directory should be (ENOTDIR on create) is permanent too.
        try Data().write(to: URL(fileURLWithPath: dir + "/c"))
        await #expect { _ = try await store.put("c/d", [1]) } throws: { e in
            if case BlobStoreError.permanent = e { return true }
            return false
        }
        if getuid() != 0 {
            chmod(dir + "/a", 0)
            defer { chmod(dir + "/a", 0o755) }
            await #expect { _ = try await store.read("a/x", range: nil) } throws: { e in
                if case BlobStoreError.permanent = e { return true }
                return false
            }
        }
    }
}
