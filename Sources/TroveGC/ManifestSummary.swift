import Foundation
import Synchronization
import TroveContent
import TroveManifest

/// What marking needs from one manifest: the packs and dictionaries it names and where its chunks
/// sit (pack, offset, stored size). Manifests are immutable, so a summary is computed once per
/// manifest digest and cached on local disk; later gc runs never reopen the manifest.
struct ManifestSummary: Sendable, Equatable {
    struct Chunk: Sendable, Equatable {
        var pack: UInt32
        var offset: UInt64
        var size: UInt32
    }
    var packs: [Digest]
    var dictionaries: [Digest]
    var chunks: [Chunk]

    static let magic: [UInt8] = Array("TRVGCS01".utf8)

    init(packs: [Digest], dictionaries: [Digest], chunks: [Chunk]) {
        self.packs = packs
        self.dictionaries = dictionaries
        self.chunks = chunks
    }

    /// Reads a manifest once (blocking SQLite).
    init(manifest m: Manifest) throws {
        var packIndex: [Digest: UInt32] = [:]
        var packs: [Digest] = []
        var chunks: [Chunk] = []
        try m.forEachChunk { _, loc in
            let i: UInt32
            if let known = packIndex[loc.pack] { i = known } else {
                i = UInt32(packs.count)
                packIndex[loc.pack] = i
                packs.append(loc.pack)
            }
            chunks.append(Chunk(pack: i, offset: UInt64(loc.offset), size: UInt32(loc.storedSize)))
        }
        var dicts = try m.referencedObjects().dictionaries
        // The project dictionary new chunks are compressed with stays live while a build names it.
        if let d = m.metadata.dictionary, !dicts.contains(d) { dicts.append(d) }
        self.init(packs: packs, dictionaries: dicts, chunks: chunks)
    }

    func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(8 + 12 + 32 * (packs.count + dictionaries.count) + 16 * chunks.count)
        out.append(contentsOf: Self.magic)
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        u32(UInt32(packs.count))
        for p in packs { p.withBytes { out.append(contentsOf: $0) } }
        u32(UInt32(dictionaries.count))
        for d in dictionaries { d.withBytes { out.append(contentsOf: $0) } }
        u32(UInt32(chunks.count))
        for c in chunks { u32(c.pack); u64(c.offset); u32(c.size) }
        return out
    }

    static func decode(_ bytes: [UInt8]) -> ManifestSummary? {
        bytes.withUnsafeBytes { raw -> ManifestSummary? in
            var pos = 0
            func need(_ n: Int) -> Bool { pos + n <= raw.count }
            func u32() -> UInt32 { defer { pos += 4 }; return UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: pos, as: UInt32.self)) }
            func u64() -> UInt64 { defer { pos += 8 }; return UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: pos, as: UInt64.self)) }
            func digest() -> Digest { defer { pos += 32 }; return Digest(bytes: UnsafeRawBufferPointer(rebasing: raw[pos..<(pos + 32)])) }
            guard need(12), Array(raw[0..<8]) == magic else { return nil }
            pos = 8
            let np = Int(u32())
            guard need(32 * np + 4) else { return nil }
            let packs = (0..<np).map { _ in digest() }
            let nd = Int(u32())
            guard need(32 * nd + 4) else { return nil }
            let dicts = (0..<nd).map { _ in digest() }
            let nc = Int(u32())
            guard raw.count == pos + 16 * nc else { return nil }
            var chunks: [Chunk] = []
            chunks.reserveCapacity(nc)
            for _ in 0..<nc {
                let c = Chunk(pack: u32(), offset: u64(), size: u32())
                guard Int(c.pack) < np else { return nil }
                chunks.append(c)
            }
            return ManifestSummary(packs: packs, dictionaries: dicts, chunks: chunks)
        }
    }
}

/// The gc's local, store-independent cache (everything in it is keyed by content digest, so it can
/// never be stale): manifest summaries and pack trailers' totals. Losing it only costs re-reading.
final class GCCache: @unchecked Sendable {
    let directory: URL
    /// Serialises use of the one SQLite connection and its statements.
    private let lock = Mutex(())
    private let db: SQLiteDatabase
    private let getPack, putPack, dropPack: SQLiteStatement

    struct PackInfo: Sendable, Equatable {
        var size: Int
        var payload: Int
        var chunks: Int
    }

    init(directory: URL) throws {
        self.directory = directory
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("summaries"), withIntermediateDirectories: true)
        db = try SQLiteDatabase(path: directory.appendingPathComponent("packs-v1.sqlite").path, mode: .readWriteCreate)
        try db.execute("""
            PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
            CREATE TABLE IF NOT EXISTS pack_info(digest BLOB PRIMARY KEY, size INTEGER NOT NULL, payload INTEGER NOT NULL,
                                                 chunks INTEGER NOT NULL) WITHOUT ROWID;
            """)
        getPack = try db.prepare("SELECT size, payload, chunks FROM pack_info WHERE digest = ?")
        putPack = try db.prepare("INSERT OR REPLACE INTO pack_info(digest, size, payload, chunks) VALUES (?,?,?,?)")
        dropPack = try db.prepare("DELETE FROM pack_info WHERE digest = ?")
    }

    private func summaryPath(_ d: Digest) -> String {
        directory.appendingPathComponent("summaries").appendingPathComponent(d.hex).path
    }

    func summary(_ d: Digest) -> ManifestSummary? {
        guard let data = FileManager.default.contents(atPath: summaryPath(d)) else { return nil }
        return ManifestSummary.decode(Array(data))
    }

    func store(_ s: ManifestSummary, for d: Digest) {
        let path = summaryPath(d)
        let tmp = path + ".\(UInt32.random(in: 0...UInt32.max)).tmp"
        if (try? Data(s.encoded()).write(to: URL(fileURLWithPath: tmp))) != nil {
            if rename(tmp, path) != 0 { unlink(tmp) }
        }
    }

    func forgetSummary(_ d: Digest) { unlink(summaryPath(d)) }

    func packInfo(_ d: Digest) -> PackInfo? {
        lock.withLock { _ in
            defer { getPack.reset() }
            getPack.bind(1, d)
            guard (try? getPack.step()) == true else { return nil }
            return PackInfo(size: getPack.int(0), payload: getPack.int(1), chunks: getPack.int(2))
        }
    }

    func store(_ info: PackInfo, for d: Digest) {
        lock.withLock { _ in
            putPack.bind(1, d)
            putPack.bind(2, info.size)
            putPack.bind(3, info.payload)
            putPack.bind(4, info.chunks)
            try? putPack.run()
        }
    }

    func forgetPack(_ d: Digest) {
        lock.withLock { _ in
            dropPack.bind(1, d)
            try? dropPack.run()
        }
    }
}
