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
}
