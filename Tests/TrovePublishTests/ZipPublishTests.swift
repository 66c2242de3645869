import Foundation
import Testing
import TroveTesting
import TroveContent
import TroveManifest
import TroveRepository
import TroveStorage
@testable import TrovePublish

/// Zip-aware chunking end to end: publish → export is byte-identical for real (deflated) and damaged
/// archives, chunks are cut at every member boundary, and a one-page rebuild with new timestamps
/// costs a few percent of the archives instead of all of them.
@Suite("Zip-aware publish")
struct ZipPublishTests {
    /// Writes `<dir>/htmlzip/site.zip` and `<dir>/epub/book.epub` (deflate, Python's zipfile) of a
    /// generated ~170-page site. Build 2 stamps every entry with another date and edits one page.
    static let generator = """
    import random, sys, zipfile
    out, build = sys.argv[1], int(sys.argv[2])
    rnd = random.Random(11)
    vocab = [''.join(rnd.choice('etaoinshrdlucmfwypvbgkqjxz') for _ in range(rnd.randint(2, 11))) for _ in range(3000)]
    pages = {}
    for i in range(170):
        body = ' '.join(rnd.choice(vocab) for _ in range(rnd.randint(300, 7000)))
        pages['topics/page%03d.html' % i] = '<html><head><title>Page %d</title></head><body><p>%s</p></body></html>' % (i, body)
    image = bytes(rnd.getrandbits(8) for _ in range(300000))
    if build == 2:
        pages['topics/page017.html'] = pages['topics/page017.html'].replace('<p>', '<p>One edited sentence. ', 1)
    date = (2024, 12, 4, 12, 0, 0) if build == 1 else (2024, 12, 11, 9, 30, 2)
    import os
    os.makedirs(out + '/htmlzip', exist_ok=True)
    os.makedirs(out + '/epub', exist_ok=True)
    def add(z, name, data, method=zipfile.ZIP_DEFLATED):
        z.writestr(zipfile.ZipInfo(name, date), data, method)
    with zipfile.ZipFile(out + '/htmlzip/site.zip', 'w') as z:
        for name in sorted(pages):
            add(z, 'site/' + name, pages[name])
        add(z, 'site/_images/diagram.png', image)
    with zipfile.ZipFile(out + '/epub/book.epub', 'w') as z:
        add(z, 'mimetype', 'application/epub+zip', zipfile.ZIP_STORED)
        add(z, 'META-INF/container.xml', '<container><rootfiles><rootfile full-path="content.opf"/></rootfiles></container>')
        add(z, 'content.opf', '<package><metadata><date>%04d-%02d-%02d</date></metadata></package>' % date[:3])
        for name in sorted(pages):
            add(z, name.replace('.html', '.xhtml'), pages[name])
        add(z, '_images/diagram.png', image)
    """

    static func python(_ script: String, _ args: String...) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", script] + args
        try p.run()
        p.waitUntilExit()
        try #require(p.terminationStatus == 0, "python3 failed")
    }

    static func tempDir(_ tag: String) throws -> String {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("trove-\(tag)-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    static func options(zipAware: Bool = true) -> PublishOptions {
        var o = PublishOptions()
        o.zipAware = zipAware
        o.threads = 2
        o.buildTime = Date(timeIntervalSince1970: 1_733_313_600)
        return o
    }

    static func repository(_ dir: String) -> Repository {
        Repository(store: MemoryBlobStore(), cacheDirectory: URL(fileURLWithPath: dir + "/cache"))
    }

    static func manifest(_ repo: Repository, _ report: PublishReport) async throws -> Manifest {
        let hex = try #require(report.manifest)
        return try await repo.manifest(try #require(Digest(hex: hex)))
    }

    /// File offsets where the published file's chunks start (after the first).
    static func chunkStarts(_ m: Manifest, _ path: String) throws -> [Int] {
        let found = try m.file(at: path)
        let record = try #require(found)
        var starts: [Int] = [], at = 0
        for c in try m.chunks(of: record) { at += c.location.rawSize; starts.append(at) }
        starts.removeLast()
        return starts
    }

    static func bytes(_ path: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path))) }

    static func sameTree(_ a: String, _ b: String) throws {
        let fm = FileManager.default
        let files = try #require(fm.subpaths(atPath: a)).filter { !$0.hasPrefix("cache") }.sorted()
        for f in files {
            var isDir: ObjCBool = false
            _ = fm.fileExists(atPath: a + "/" + f, isDirectory: &isDir)
            if isDir.boolValue { continue }
            #expect(try bytes(a + "/" + f) == bytes(b + "/" + f), "\(f) differs after export")
        }
    }

    @Test func oneEditedPageRebuildAddsUnderFivePercent() async throws {
        let dir = try Self.tempDir("zipdedup")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Self.python(Self.generator, dir + "/b1", "1")
        try Self.python(Self.generator, dir + "/b2", "2")
        let archives = ["htmlzip/site.zip", "epub/book.epub"]
        let size2 = try archives.reduce(0) { $0 + (try Self.bytes(dir + "/b2/" + $1)).count }
        #expect(size2 > 2 << 20)

        // Zip-aware (the default).
        let repo = Self.repository(dir + "/r1")
        let publisher = Publisher(repository: repo, options: Self.options())
        let first = try await publisher.publish(project: "demo", version: "latest", from: dir + "/b1")
        #expect(first.switched && first.errors.isEmpty)
        #expect(first.containerFiles == 2)
        let second = try await publisher.publish(project: "demo", version: "latest", from: dir + "/b2")
        #expect(second.switched && second.errors.isEmpty)
        #expect(second.containerFiles == 2)
        #expect(second.containerBytes == size2)
        // The tree holds only the archives, so everything new is theirs.
        #expect(second.newBytes * 100 <= size2 * 5, "rebuild added \(second.newBytes) of \(size2) bytes")
        #expect(second.newStoredBytes * 100 <= size2 * 5)
        #expect(second.containerReusedBytes * 100 >= size2 * 95)

        // Every member boundary is a chunk boundary; big members are also cut inside.
        let m = try await Self.manifest(repo, second)
        for a in archives {
            let cuts = try #require(ZipBoundaries.cuts(in: try Self.bytes(dir + "/b2/" + a)))
            let starts = try Self.chunkStarts(m, a)
            #expect(Set(cuts).isSubset(of: Set(starts)), "\(a): a member boundary is not a chunk boundary")
            #expect(starts.count > cuts.count, "\(a): no content-defined cut inside a large member")
        }

        // Byte-identical round trip of both builds.
        for (report, tree) in [(first, "b1"), (second, "b2")] {
            let out = dir + "/out-" + tree
            _ = try await Exporter(repository: repo).export(try await Self.manifest(repo, report), to: out)
            try Self.sameTree(dir + "/" + tree, out)
        }

        // Without zip-aware chunking the same rebuild stores most of the archives again.
        let plainRepo = Self.repository(dir + "/r2")
        let plain = Publisher(repository: plainRepo, options: Self.options(zipAware: false))
        _ = try await plain.publish(project: "demo", version: "latest", from: dir + "/b1")
        let plainSecond = try await plain.publish(project: "demo", version: "latest", from: dir + "/b2")
        #expect(plainSecond.containerFiles == 0)
        #expect(plainSecond.newBytes >= 10 * second.newBytes, "plain \(plainSecond.newBytes) vs zip-aware \(second.newBytes) new bytes")
    }

    /// Damaged archives (truncated, bytes flipped anywhere, in the central directory, bytes inserted or
    /// removed) publish and export byte-identically, and whatever cuts the parser still finds are honoured.
    @Test func damagedArchivesRoundTrip() async throws {
        let dir = try Self.tempDir("zipfuzz")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Self.python("""
        import random, sys, zipfile
        rnd = random.Random(5)
        words = [''.join(rnd.choice('abcdefghijklmnop') for _ in range(rnd.randint(2, 9))) for _ in range(800)]
        with zipfile.ZipFile(sys.argv[1], 'w') as z:
            for i in range(30):
                z.writestr(zipfile.ZipInfo('d/p%d.html' % i, (2022, 5, 6, 7, 8, 10)),
                           ' '.join(rnd.choice(words) for _ in range(rnd.randint(0, 30000))), zipfile.ZIP_DEFLATED)
            z.writestr(zipfile.ZipInfo('d/raw.bin', (2022, 5, 6, 7, 8, 10)), bytes(rnd.getrandbits(8) for _ in range(200000)))
        """, dir + "/base.zip")
        let base = try Self.bytes(dir + "/base.zip")
        let tree = dir + "/tree/htmlzip"
        try FileManager.default.createDirectory(atPath: tree, withIntermediateDirectories: true)
        var rng = SystemRandomNumberGenerator()
        let seed = UInt64.random(in: 0...UInt64.max, using: &rng)
        var g = SplitMix(seed: seed)
        var names: [String] = []
        for i in 0..<48 {
            var b = base
            switch i % 6 {
            case 0: b = Array(b.prefix(Int.random(in: 1..<b.count, using: &g)))
            case 1: for _ in 0..<8 { b[Int.random(in: 0..<b.count, using: &g)] = UInt8.random(in: 0...255, using: &g) }
            case 2: for _ in 0..<3 { b[Int.random(in: (b.count - 2000)..<b.count, using: &g)] = UInt8.random(in: 0...255, using: &g) }
            case 3: b.insert(contentsOf: (0..<Int.random(in: 1...300, using: &g)).map { _ in UInt8.random(in: 0...255, using: &g) },
                             at: Int.random(in: 0...b.count, using: &g))
            case 4: let at = Int.random(in: 0..<b.count, using: &g); b.removeSubrange(at..<min(b.count, at + Int.random(in: 1...300, using: &g)))
            default: b = Array(b.suffix(Int.random(in: 1..<b.count, using: &g))) // leading bytes lost
            }
            let name = "damaged\(i).zip"
            try Data(b).write(to: URL(fileURLWithPath: tree + "/" + name))
            names.append(name)
        }
        try Data(base).write(to: URL(fileURLWithPath: tree + "/intact.zip"))
        names.append("intact.zip")

        let repo = Self.repository(dir + "/r")
        let report = try await Publisher(repository: repo, options: Self.options()).publish(project: "fuzz", version: "v1", from: dir + "/tree")
        #expect(report.switched && report.errors.isEmpty, "seed \(seed)")
        #expect(report.containerFiles >= 1, "seed \(seed)")
        let m = try await Self.manifest(repo, report)
        for n in names {
            let original = try Self.bytes(tree + "/" + n)
            if let cuts = ZipBoundaries.cuts(in: original) {
                #expect(Set(cuts).isSubset(of: Set(try Self.chunkStarts(m, "htmlzip/" + n))), "\(n), seed \(seed)")
            }
        }
        _ = try await Exporter(repository: repo).export(m, to: dir + "/out")
        try Self.sameTree(dir + "/tree", dir + "/out")
        for n in names {
            #expect(try Self.bytes(dir + "/out/htmlzip/" + n) == Self.bytes(tree + "/" + n), "\(n), seed \(seed)")
        }
    }
}

