import Foundation
import Testing
import TroveTesting
@testable import TroveContent

@Suite("ZipBoundaries")
struct ZipBoundariesTests {
    static func pages(_ n: Int, seed: UInt64 = 1, sizes: ClosedRange<Int> = 0...5000) -> [ZipTestArchive.Member] {
        var rng = SplitMix(seed: seed)
        return (0..<n).map { i in ZipTestArchive.Member(name: "site/page\(i).html", data: rng.bytes(Int.random(in: sizes, using: &rng))) }
    }

    @Test func storedArchiveCutsAtEveryMemberBoundary() {
        let (bytes, expected) = ZipTestArchive(members: Self.pages(12)).build()
        #expect(bytes.withUnsafeBytes { ZipBoundaries.looksLikeZip($0) })
        #expect(ZipBoundaries.cuts(in: bytes) == expected)
    }

    @Test func dataDescriptorsLocalExtrasAndEmptyMembers() {
        var a = ZipTestArchive(members: Self.pages(6))
        a.members[1].dataDescriptor = true
        a.members[2].localExtra = [0x55, 0x54, 5, 0, 1, 2, 3, 4, 5] // extended timestamp, local only
        a.members[3].data = []                                       // a directory entry
        a.members[4].encryptedFlag = true                            // boundaries do not move
        let (bytes, expected) = a.build()
        #expect(ZipBoundaries.cuts(in: bytes) == expected)
    }

    @Test func commentAndPrefixStub() {
        var a = ZipTestArchive(members: Self.pages(5))
        a.comment = Array("built by trove tests; PK\u{5}\u{6} inside the comment".utf8)
        a.prefix = Array(repeating: 0x90, count: 777)
        let (bytes, expected) = a.build()
        #expect(ZipBoundaries.cuts(in: bytes) == expected)
    }

    @Test func zip64Archive() {
        var a = ZipTestArchive(members: Self.pages(7))
        a.zip64 = true
        let (bytes, expected) = a.build()
        #expect(ZipBoundaries.cuts(in: bytes) == expected)
    }

    @Test func notZips() {
        var rng = SplitMix(seed: 7)
        #expect(ZipBoundaries.cuts(in: []) == nil)
        #expect(ZipBoundaries.cuts(in: rng.bytes(100_000)) == nil)
        #expect(ZipBoundaries.cuts(in: [0x50, 0x4b, 3, 4] + rng.bytes(1000)) == nil)
        // An empty archive (just an EOCD) has nothing to cut.
        #expect(ZipBoundaries.cuts(in: ZipTestArchive().build().bytes) == nil)
    }

    @Test func malformedDirectoriesAreRejected() {
        let good = ZipTestArchive(members: Self.pages(4, seed: 3))
        let (bytes, _) = good.build()
        let eocd = bytes.count - 22
        let cdOffset = Int(bytes[eocd + 16]) | Int(bytes[eocd + 17]) << 8 | Int(bytes[eocd + 18]) << 16
        // Entry count larger than the directory.
        var b = bytes; b[eocd + 8] = 9; b[eocd + 10] = 9
        #expect(ZipBoundaries.cuts(in: b) == nil)
        // Multi-disk.
        b = bytes; b[eocd + 4] = 1
        #expect(ZipBoundaries.cuts(in: b) == nil)
        // Second member's local header offset pointing at the first: overlapping members.
        b = bytes
        let second = cdOffset + 46 + "site/page0.html".utf8.count
        b[second + 42] = 0; b[second + 43] = 0; b[second + 44] = 0; b[second + 45] = 0
        #expect(ZipBoundaries.cuts(in: b) == nil)
        // A compressed size running into the central directory.
        b = bytes; b[cdOffset + 20 + 2] = 0x7F
        #expect(ZipBoundaries.cuts(in: b) == nil)
        // A masked local header (central directory encryption, flag bit 13).
        b = bytes; b[cdOffset + 9] |= 0x20
        #expect(ZipBoundaries.cuts(in: b) == nil)
        // A local header offset beyond the file.
        b = bytes; b[cdOffset + 45] = 0x40
        #expect(ZipBoundaries.cuts(in: b) == nil)
    }

    /// Random mutations and truncations of valid archives: never a crash, and any answer is a list of
    /// strictly increasing offsets inside the file.
    @Test(arguments: 0..<8)
    func fuzzedArchivesGiveSaneCuts(seed: UInt64) {
        var rng = SplitMix(seed: 0x5EED_0000 + seed)
        var a = ZipTestArchive(members: Self.pages(Int.random(in: 1...20, using: &rng), seed: seed))
        a.zip64 = seed % 3 == 0
        a.comment = rng.bytes(Int.random(in: 0...40, using: &rng))
        if seed % 2 == 1 { a.members[0].dataDescriptor = true }
        let (base, _) = a.build()
        var accepted = 0
        for round in 0..<400 {
            var b = base
            switch round % 4 {
            case 0: b = Array(b.prefix(Int.random(in: 0..<b.count, using: &rng)))
            case 1:
                for _ in 0..<Int.random(in: 1...8, using: &rng) { b[Int.random(in: 0..<b.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
            case 2:
                // Mutate the structural tail (central directory and end records), where parsing happens.
                let from = max(0, b.count - 400)
                for _ in 0..<Int.random(in: 1...4, using: &rng) { b[Int.random(in: from..<b.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
            default:
                let at = Int.random(in: 0...b.count, using: &rng)
                if Bool.random(using: &rng) { b.insert(contentsOf: rng.bytes(Int.random(in: 1...64, using: &rng)), at: at) }
                else { b.removeSubrange(at..<min(b.count, at + Int.random(in: 1...64, using: &rng))) }
            }
            guard let cuts = ZipBoundaries.cuts(in: b) else { continue }
            accepted += 1
            #expect(cuts.allSatisfy { $0 > 0 && $0 < b.count }, "seed \(seed) round \(round)")
            #expect(zip(cuts, cuts.dropFirst()).allSatisfy { $0 < $1 }, "seed \(seed) round \(round)")
        }
        // Some mutations (inside member data) leave a well-formed archive.
        #expect(accepted > 0)
    }

    /// Memory stays bounded whatever the archive size: no read asks for more than the EOCD search window.
    @Test func readsAreBounded() {
        let (bytes, expected) = ZipTestArchive(members: Self.pages(2000, seed: 9, sizes: 1500...2500)).build()
        #expect(bytes.count > 3 << 20)
        var largest = 0, total = 0
        let cuts = bytes.withUnsafeBytes { data in
            ZipBoundaries.cuts(fileSize: data.count) { offset, into in
                largest = max(largest, into.count)
                let n = min(into.count, data.count - offset)
                into.baseAddress!.copyMemory(from: data.baseAddress! + offset, byteCount: n)
                total += n
                return n
            }
        }
        #expect(cuts == expected)
        #expect(largest <= 65535 + 22)
        #expect(total < bytes.count / 2)
    }

    /// Offsets agree with Python's zipfile (deflate, an ePub-style stored first member) on a real archive.
    @Test func agreesWithPythonZipfile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("trove-zipb-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let script = """
        import json, random, sys, zipfile
        rnd = random.Random(4)
        words = [''.join(rnd.choice('abcdefghij') for _ in range(rnd.randint(2, 9))) for _ in range(500)]
        with zipfile.ZipFile(sys.argv[1] + '/a.epub', 'w') as z:
            z.writestr(zipfile.ZipInfo('mimetype', (2020, 1, 1, 0, 0, 0)), 'application/epub+zip', zipfile.ZIP_STORED)
            for i in range(40):
                info = zipfile.ZipInfo('OEBPS/p%d.xhtml' % i, (2021, 2, 3, 4, 5, 6))
                z.writestr(info, ' '.join(rnd.choice(words) for _ in range(rnd.randint(0, 20000))), zipfile.ZIP_DEFLATED)
        import os, struct
        path = sys.argv[1] + '/a.epub'
        size = os.path.getsize(path)
        cuts = set()
        with zipfile.ZipFile(path) as z, open(path, 'rb') as f:
            for i in z.infolist():
                f.seek(i.header_offset)
                n, e = struct.unpack('<HH', f.read(30)[26:30])
                start = i.header_offset + 30 + n + e
                cuts |= {i.header_offset, start, start + i.compress_size}
            cuts |= {z.start_dir, size - 22}
        print(json.dumps(sorted(c for c in cuts if 0 < c < size)))
        """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", script, dir]
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        try #require(p.terminationStatus == 0)
        let expected = try JSONDecoder().decode([Int].self, from: data)
        let fd = open(dir + "/a.epub", O_RDONLY)
        defer { close(fd) }
        var st = stat()
        #expect(fstat(fd, &st) == 0)
        let cuts = try #require(ZipBoundaries.cuts(fd: fd, fileSize: Int(st.st_size)))
        let header = FileHandle(forReadingAtPath: dir + "/a.epub")!.readData(ofLength: 4)
        #expect(header.withUnsafeBytes { ZipBoundaries.looksLikeZip($0) })
        #expect(cuts == expected)
        #expect(cuts.count > 80)
    }
}

/// zip64 records, a prefix stub and an archive comment. Records the offsets the boundaries must match.
struct ZipTestArchive {
    struct Member {
        var name: String
        var data: [UInt8]
        var dosTime: UInt16 = 0x6000
        var dosDate: UInt16 = 0x5921
        var localExtra: [UInt8] = []
        var dataDescriptor = false
        var encryptedFlag = false
    }

    var members: [Member] = []
    var prefix: [UInt8] = []
    var comment: [UInt8] = []
    /// Write zip64 end records and zip64 extra fields (sizes and offsets saturated in the 32-bit fields).
    var zip64 = false

    /// The archive's bytes and the cuts a correct parser must report.
    func build() -> (bytes: [UInt8], cuts: [Int]) {
        var out = prefix
        var expected: [Int] = []
        var central: [UInt8] = []
        for m in members {
            let offset = out.count - prefix.count
            expected.append(out.count)
            let crc = Self.crc32(m.data)
            let flags: UInt16 = (m.dataDescriptor ? 1 << 3 : 0) | (m.encryptedFlag ? 1 : 0)
            out.le32(0x0403_4b50); out.le16(zip64 ? 45 : 20); out.le16(flags); out.le16(0)
            out.le16(m.dosTime); out.le16(m.dosDate)
            out.le32(m.dataDescriptor ? 0 : crc)
            out.le32(m.dataDescriptor ? 0 : UInt32(m.data.count)); out.le32(m.dataDescriptor ? 0 : UInt32(m.data.count))
            out.le16(UInt16(m.name.utf8.count)); out.le16(UInt16(m.localExtra.count))
            out += Array(m.name.utf8); out += m.localExtra
            expected.append(out.count)
            out += m.data
            expected.append(out.count)
            if m.dataDescriptor { out.le32(0x0807_4b50); out.le32(crc); out.le32(UInt32(m.data.count)); out.le32(UInt32(m.data.count)) }

            var extra: [UInt8] = []
            if zip64 { extra.le16(1); extra.le16(24); extra.le64(UInt64(m.data.count)); extra.le64(UInt64(m.data.count)); extra.le64(UInt64(offset)) }
            central.le32(0x0201_4b50); central.le16(zip64 ? 45 : 20); central.le16(zip64 ? 45 : 20); central.le16(flags); central.le16(0)
            central.le16(m.dosTime); central.le16(m.dosDate); central.le32(crc)
            central.le32(zip64 ? 0xFFFF_FFFF : UInt32(m.data.count)); central.le32(zip64 ? 0xFFFF_FFFF : UInt32(m.data.count))
            central.le16(UInt16(m.name.utf8.count)); central.le16(UInt16(extra.count)); central.le16(0)
            central.le16(0); central.le16(0); central.le32(0)
            central.le32(zip64 ? 0xFFFF_FFFF : UInt32(offset))
            central += Array(m.name.utf8); central += extra
        }
        let cdOffset = out.count - prefix.count
        expected.append(out.count)
        out += central
        if zip64 {
            let recordOffset = out.count - prefix.count
            expected.append(out.count)
            out.le32(0x0606_4b50); out.le64(44); out.le16(45); out.le16(45); out.le32(0); out.le32(0)
            out.le64(UInt64(members.count)); out.le64(UInt64(members.count)); out.le64(UInt64(central.count)); out.le64(UInt64(cdOffset))
            expected.append(out.count)
            out.le32(0x0706_4b50); out.le32(0); out.le64(UInt64(recordOffset)); out.le32(1)
        }
        expected.append(out.count)
        out.le32(0x0605_4b50); out.le16(0); out.le16(0)
        out.le16(zip64 ? 0xFFFF : UInt16(members.count)); out.le16(zip64 ? 0xFFFF : UInt16(members.count))
        out.le32(zip64 ? 0xFFFF_FFFF : UInt32(central.count)); out.le32(zip64 ? 0xFFFF_FFFF : UInt32(cdOffset))
        out.le16(UInt16(comment.count)); out += comment
        var cuts: [Int] = []
        for c in expected where c > 0 && c < out.count && c > (cuts.last ?? 0) { cuts.append(c) }
        return (out, cuts)
    }

    static let crcTable: [UInt32] = (0..<256).map { (n: UInt32) in
        var c = n
        for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0xEDB8_8320 : c >> 1 }
        return c
    }

    static func crc32(_ data: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in data { c = crcTable[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return ~c
    }
}


extension [UInt8] {
    mutating func le16(_ v: UInt16) { append(UInt8(v & 0xFF)); append(UInt8(v >> 8)) }
    mutating func le32(_ v: UInt32) { for i in 0..<4 { append(UInt8((v >> (8 * UInt32(i))) & 0xFF)) } }
    mutating func le64(_ v: UInt64) { for i in 0..<8 { append(UInt8((v >> (8 * UInt64(i))) & 0xFF)) } }
}
