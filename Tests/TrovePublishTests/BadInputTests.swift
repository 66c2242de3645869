import Foundation
import Synchronization
import Testing
import TroveContent
import TroveManifest
import TroveRepository
import TroveStorage
@testable import TrovePublish
import TroveTesting

@Suite struct BadInputTests {
    func mkfifo(_ path: String) { _ = Glibc.mkfifo(path, 0o644) }

    func makeSocket(_ path: String) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", "import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])", path]
        try p.run()
        p.waitUntilExit()
    }

    @Test func specialFilesAndEscapingLinksFailWithoutSwitching() async throws {
        let fx = try Fixture()
        let good = fx.dir("good")
        for i in 0..<10 { try fx.write(good, "p\(i).html", page(i, date: "old")) }
        let v1 = try await fx.publish("p", "v", good)
        #expect(v1.switched)

        let bad = fx.dir("bad")
        for i in 0..<10 { try fx.write(bad, "p\(i).html", page(i, date: "new")) }
        mkfifo(bad + "/pipe")
        try makeSocket(bad + "/sock")
        try FileManager.default.createSymbolicLink(atPath: bad + "/escape", withDestinationPath: "../../etc/passwd")
        try FileManager.default.createSymbolicLink(atPath: bad + "/absolute", withDestinationPath: "/etc/passwd")
        let r = try await fx.publish("p", "v", bad)
        #expect(!r.switched)
        let failed = Dictionary(uniqueKeysWithValues: r.errors.map { ($0.path, $0.reason) })
        #expect(failed["pipe"]?.contains("FIFO") == true)
        #expect(failed["sock"]?.contains("socket") == true)
        #expect(failed["escape"]?.contains("escapes the build tree") == true)
        #expect(failed["absolute"]?.contains("absolute") == true)
        // The previous version is untouched and still exports byte-identical.
        #expect(try await fx.repository.ref("p", "v")?.ref.current.manifest.hex == v1.manifest)
        #expect(try fx.identical(good, try await fx.export("p", "v")))
    }

    /// A link that is lexically inside but leaves the tree on disk through another link (issue 12,
    /// item 3): `a/b -> ..` makes `a/b/a/b/…` climb nothing, so ten `..` then leave the root. Refused,
    /// named; links that stay inside (through other links, or looping) still publish.
    @Test func linksLeavingThroughOtherLinksAreRefused() async throws {
        let fx = try Fixture()
        let t = fx.dir("t")
        try fx.write(t, "a/index.html", "a")
        try fx.write(t, "html/page.html", "p")
        symlink("..", t + "/a/b")
        symlink("a/b/a/b/a/b/a/b/a/b/../../../../../../../../../../etc/passwd", t + "/s")
        symlink("a/b/a/b/a/b/../../../../../..", t + "/up") // lexically inside too, out on disk
        symlink("a/b/a/b/html/page.html", t + "/inside") // through the link, still inside
        symlink("loop2", t + "/loop1")
        symlink("loop1", t + "/loop2") // goes nowhere (ELOOP): not an escape
        // A chain of 60 links, each through the previous: resolved without recursion, and inside.
        symlink("html", t + "/c0")
        for i in 1..<60 { symlink("c\(i - 1)", t + "/c\(i)") }
        for walked in [try TreeWalker.walk(root: t), try await TreeWalker.walkConcurrently(root: t)] {
            let refused = Dictionary(uniqueKeysWithValues: walked.errors.map { ($0.path, $0.reason) })
            #expect(Set(refused.keys) == ["s", "up"])
            #expect(refused["s"]?.contains("escapes the build tree") == true)
            #expect(Set(walked.entries.filter { $0.kind == .symlink }.map(\.path)).isSuperset(of: ["a/b", "inside", "loop1", "loop2", "c0", "c59"]))
        }
        let r = try await fx.publish("p", "v", t)
        #expect(!r.switched)
        #expect(Set(r.errors.map(\.path)) == ["s", "up"])
        #expect(try await fx.repository.ref("p", "v") == nil)
    }

    /// The shared rule on its own: memoised, without recursion (a chain of 100,000 links), loops go
    /// nowhere, a chain that leaves at its end is refused at every link (in any order of checking).
    @Test func linkResolutionRule() {
        #expect(ManifestPath.linksLeavingTree(["a/b": "..", "s": "a/b/a/b/../../etc"]) == ["s"])
        #expect(ManifestPath.linksLeavingTree(["x": "y", "y": "x", "z": "x/../.."]) == [])
        var chain = ["c0": "../.."]
        for i in 1..<50 { chain["c\(i)"] = "c\(i - 1)" }
        #expect(ManifestPath.linksLeavingTree(chain) == Set(chain.keys))
        var deep = ["d0": "."]
        for i in 1..<100_000 { deep["d\(i)"] = "d\(i - 1)" } // no recursion 100,000 deep
        #expect(ManifestPath.linksLeavingTree(deep).isEmpty)
    }

    enum Rewrite: String, CaseIterable, Sendable { case shorter, longer, sameSizeNewerTime }

    /// A file truncated and rewritten while publish reads it (issue 12, item 7): after the first 1 MiB
    /// is read, the file is rewritten in place (shorter: the read ends early and would store a prefix;
    /// longer; or the same size with a new time, as tools that set times do). The file fails, named,
    /// and nothing is switched; before, a prefix or a mix of two contents was stored with exit 0.
    @Test(arguments: Rewrite.allCases) func fileChangedWhileReadFails(_ rewrite: Rewrite) async throws {
        let fx = try Fixture()
        let t = fx.dir("t")
        try fx.write(t, "index.html", page(1, date: "x"))
        try fx.write(t, "big.bin", pseudoRandom(3 << 20, seed: 1))
        let path = t + "/big.bin"
        let fired = Mutex(false)
        var options = PublishOptions()
        options.afterRead = { rel in
            guard rel == "big.bin", fired.withLock({ let was = $0; $0 = true; return !was }) else { return }
            let size = switch rewrite { case .shorter: 512 << 10; case .longer: 4 << 20; case .sameSizeNewerTime: 3 << 20 }
            let bytes = pseudoRandom(size, seed: 2)
            let fd = Glibc.open(path, O_WRONLY | O_TRUNC)
            precondition(fd >= 0)
            _ = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if rewrite == .sameSizeNewerTime {
                var st = stat()
                fstat(fd, &st)
                var times = [st.st_atim, timespec(tv_sec: st.st_mtim.tv_sec + 3600, tv_nsec: 0)]
                futimens(fd, &times)
            }
            close(fd)
        }
        let r = try await fx.publish("p", "v", t, options: options)
        #expect(fired.withLock { $0 })
        #expect(!r.switched)
        #expect(r.errors.map(\.path) == ["big.bin"])
        #expect(r.errors.first?.reason.contains("changed while it was read") == true)
        #expect(try await fx.repository.ref("p", "v") == nil)
    }

    @Test func missingDirectoryIsAClearError() async throws {
        let fx = try Fixture()
        await #expect(throws: PathError.self) { _ = try await fx.publish("p", "v", fx.root.path + "/nope") }
    }

    @Test func invalidNamesAreRejected() async throws {
        let fx = try Fixture()
        let t = fx.dir("t")
        await #expect(throws: NameError.self) { _ = try await fx.publish("../etc", "v", t) }
        await #expect(throws: NameError.self) { _ = try await fx.publish("p", "v/../../x", t) }
    }

    @Test func readTheDocsLayoutPublishesMediaTypesIndependently() async throws {
        let fx = try Fixture()
        let b1 = fx.dir("b1")
        for i in 0..<10 { try fx.write(b1, "html/p\(i).html", page(i, date: "1")) }
        try fx.write(b1, "pdf/proj.pdf", pseudoRandom(1 << 20, seed: 3))
        try fx.write(b1, "epub/proj.epub", pseudoRandom(200 << 10, seed: 4))
        let r1 = try await fx.publish("p", "latest", b1)
        #expect(r1.switched && r1.mediaTypes.allSatisfy { $0.status == .published })

        // Build 2: html changes, pdf/ has an unpublishable FIFO, epub/ is gone.
        let b2 = fx.dir("b2")
        for i in 0..<10 { try fx.write(b2, "html/p\(i).html", page(i, date: "2")) }
        try fx.write(b2, "pdf/proj.pdf", pseudoRandom(1 << 20, seed: 30))
        mkfifo(b2 + "/pdf/stuck")
        let r2 = try await fx.publish("p", "latest", b2)
        #expect(r2.switched && r2.hasFailures)
        let status = Dictionary(uniqueKeysWithValues: r2.mediaTypes.map { ($0.name, $0.status) })
        #expect(status == ["html": .published, "pdf": .keptPrevious, "epub": .removed])
        // Files and bytes per media type: what this build has live (pdf: the previous build's file).
        let counts = Dictionary(uniqueKeysWithValues: r2.mediaTypes.map { ($0.name, [$0.files, $0.bytes]) })
        let htmlBytes = (0..<10).reduce(0) { $0 + page($1, date: "2").utf8.count }
        #expect(counts == ["html": [10, htmlBytes], "pdf": [1, 1 << 20], "epub": [0, 0]])
        #expect(r2.errors.map(\.path) == ["pdf/stuck"])

        let out = try await fx.export("p", "latest")
        #expect(try fx.identical(b2 + "/html", out + "/html"))
        #expect(try fx.identical(b1 + "/pdf", out + "/pdf")) // previous pdf kept
        #expect(!FileManager.default.fileExists(atPath: out + "/epub"))
        let m = try await fx.repository.openVersion("p", "latest")
        #expect(m.metadata.carriedOver == ["pdf"])
    }
}

@Suite struct CorruptionTests {
    @Test func flippedByteInAPackFailsExportNamingTheDigest() async throws {
        let fx = try Fixture()
        let tree = fx.dir("tree")
        try fx.write(tree, "html/index.html", page(1, date: "x"))
        try fx.write(tree, "data.bin", pseudoRandom(300 << 10, seed: 8))
        _ = try await fx.publish("p", "v", tree)
        let packs = try fx.packFiles()
        #expect(packs.count == 1)
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: packs[0])))
        bytes[bytes.count / 3] ^= 0x01
        try Data(bytes).write(to: URL(fileURLWithPath: packs[0]))

        let dest = fx.root.appendingPathComponent("out").path
        do {
            let m = try await fx.repository.openVersion("p", "v")
            _ = try await Exporter(repository: fx.repository).export(m, to: dest)
            Issue.record("export of a corrupt pack succeeded")
        } catch let e as RepositoryError {
            let text = e.description
            #expect(text.contains("corrupt chunk"))
            // The message names a 64-hex digest.
            let named = text.components(separatedBy: "corrupt chunk ").last.map { String($0.prefix(64)) } ?? ""
            #expect(Digest(hex: named) != nil, "\(text)")
        }
        // No file with wrong bytes was left behind.
        let left = (try? FileManager.default.subpathsOfDirectory(atPath: dest)) ?? []
        for f in left where f.hasSuffix(".bin") || f.hasSuffix(".html") {
            let out = try [UInt8](Data(contentsOf: URL(fileURLWithPath: dest + "/" + f)))
            let orig = try [UInt8](Data(contentsOf: URL(fileURLWithPath: tree + "/" + f)))
            #expect(out == orig)
        }
        #expect(!left.contains { $0.hasSuffix(".trove-tmp") })
    }
}
