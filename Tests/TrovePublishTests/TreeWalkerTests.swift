import Foundation
import Testing
@testable import TrovePublish

@Suite struct TreeWalkerTests {
    /// Walking top-level folders concurrently finds the same entries and errors, in the same order, as
    /// walking sequentially: nested and empty folders, top-level files, symlinks inside and escaping the
    /// tree, a FIFO, names that sort differently as paths than as siblings ("a-b" vs "a/").
    @Test func concurrentWalkMatchesSequentialWalk() async throws {
        let fx = try Fixture()
        let t = fx.dir("tree")
        for d in ["html", "json", "pdf"] {
            for i in 0..<30 { try fx.write(t, "\(d)/sub\(i % 4)/deeper/p\(i).html", "page \(i)") }
        }
        try fx.write(t, "a/x", "x")
        try fx.write(t, "a-b", "file next to a folder")
        try fx.write(t, "top.txt", "top")
        try fx.write(t, "html/ünï cödé.html", "u")
        _ = fx.dir("tree/empty")
        symlink("p1.html", t + "/html/sub1/deeper/link.html")
        symlink("../../../../outside", t + "/json/sub0/deeper/escape")
        mkfifo(t + "/pdf/pipe", 0o644)
        mkfifo(t + "/fifo-at-top", 0o644)

        let sequential = try TreeWalker.walk(root: t)
        let concurrent = try await TreeWalker.walkConcurrently(root: t)
        func key(_ e: WalkEntry) -> String { "\(e.path)|\(e.kind)|\(e.size)|\(e.mode)|\(e.linkTarget ?? "")" }
        #expect(concurrent.entries.map(key) == sequential.entries.map(key))
        #expect(concurrent.errors.map(\.description) == sequential.errors.map(\.description))
        #expect(sequential.entries.count > 100 && sequential.errors.count == 3)
        await #expect(throws: PathError.self) { _ = try await TreeWalker.walkConcurrently(root: t + "/missing") }
    }
}
