/// A finished pack: the object bytes, the digest that names it, and what it holds.
public struct Pack: Sendable {
    public let digest: Digest
    public let bytes: [UInt8]
    /// Every chunk it holds, located in this pack.
    public let entries: [ChunkRef]
    /// Bytes of chunk payload (excluding the trailer).
    public let payloadSize: Int
}

/// Packs many stored chunks into one object of a few MiB, so small chunks do not cost a request each.
///
/// Layout: chunk payloads back to back, then a trailer listing every entry, then a 12-byte footer
/// (trailer length, magic). The trailer makes a pack self-describing, so gc and verify can read it
/// without manifests. See docs/storage-format.md.
public struct PackWriter: Sendable {
    static let trailerMagic: [UInt8] = Array("TRVPACK1".utf8)
    static let footerMagic: [UInt8] = Array("TRVEND01".utf8)
    static let entrySize = 32 + 8 + 4 + 4 + 1 + 1 + 2
    public static let footerSize = 12

    private var buffer: [UInt8] = []
    /// The chunks appended so far; their `location.pack` is set by `finish`, once the bytes that name
    /// the pack are complete.
    private var entries: [ChunkRef] = []

    public init(capacity: Int = 0) { buffer.reserveCapacity(capacity) }

    /// Starts a pack in the storage of a finished one (emptied, capacity kept), so a long publish
    /// does not fault in fresh pages for every pack.
    public init(reusing storage: consuming [UInt8]) {
        storage.removeAll(keepingCapacity: true)
        buffer = storage
    }

    /// Bytes of payload written so far.
    public var payloadSize: Int { buffer.count }
    public var isEmpty: Bool { entries.isEmpty }

    /// Appends one stored chunk.
    public mutating func append(digest: Digest, stored: UnsafeRawBufferPointer, rawSize: Int,
                                codec: Codec, dictionary: Digest?) {
        entries.append(ChunkRef(digest: digest, location: ChunkLocation(pack: PackWriter.unnamed, offset: buffer.count, storedSize: stored.count,
                                                                         rawSize: rawSize, codec: codec, dictionary: dictionary)))
        buffer.append(contentsOf: stored)
    }

    /// The pack of entries not yet finished (all zero): replaced by the pack's digest in `finish`.
    private static let unnamed = Digest(bytes: [UInt8](repeating: 0, count: 32))

    /// Appends the trailer and footer and names the pack by the SHA-256 of all its bytes.
    public consuming func finish() -> Pack {
        let payload = buffer.count
        var dicts: [Digest] = []
        var dictIndex: [Digest: Int] = [:]
        for e in entries {
            if let d = e.location.dictionary, dictIndex[d] == nil { dictIndex[d] = dicts.count; dicts.append(d) }
        }
        let trailerLength = 8 + 4 + 32 * dicts.count + 4 + PackWriter.entrySize * entries.count
        // The trailer goes straight after the payload: one exact reservation, never a second copy of the pack.
        buffer.reserveCapacity(payload + trailerLength + PackWriter.footerSize)
        var t = ByteWriter(bytes: buffer)
        buffer = []
        t.append(PackWriter.trailerMagic)
        t.u32(UInt32(dicts.count))
        for d in dicts { d.withBytes { t.append($0) } }
        t.u32(UInt32(entries.count))
        for e in entries {
            let l = e.location
            e.digest.withBytes { t.append($0) }
            t.u64(UInt64(l.offset))
            t.u32(UInt32(l.storedSize))
            t.u32(UInt32(l.rawSize))
            t.u8(l.codec.rawValue)
            t.u8(0)
            t.u16(l.dictionary.map { UInt16(dictIndex[$0]!) } ?? 0xFFFF)
        }
        precondition(t.bytes.count == payload + trailerLength, "pack trailer size")
        t.u32(UInt32(trailerLength))
        t.append(PackWriter.footerMagic)
        let digest = Digest.sha256(t.bytes)
        for i in entries.indices { entries[i].location.pack = digest }
        return Pack(digest: digest, bytes: t.bytes, entries: entries, payloadSize: payload)
    }
}

/// Reads a pack's trailer back (gc, verify, compaction).
public enum PackReader {
    /// Parses the trailer of the pack `pack` (`packSize` bytes) from its complete bytes, or from a tail
    /// that contains the whole trailer.
    public static func entries(fromTail tail: [UInt8], packSize: Int, pack: Digest) throws -> [ChunkRef] {
        let f = PackWriter.footerSize
        guard tail.count >= f, Array(tail[(tail.count - 8)...]) == PackWriter.footerMagic else {
            throw PackFormatError("missing pack footer")
        }
        var r = ByteReader(tail, at: tail.count - f)
        let trailerLength = Int(try r.u32())
        let start = tail.count - f - trailerLength
        guard start >= 0 else { throw PackFormatError("trailer of \(trailerLength) bytes does not fit in the \(tail.count)-byte tail read") }
        r = ByteReader(tail, at: start)
        guard try r.bytes(8) == PackWriter.trailerMagic else { throw PackFormatError("bad trailer magic") }
        let dictCount = Int(try r.u32())
        var dicts: [Digest] = []
        for _ in 0..<dictCount { dicts.append(Digest(bytes: try r.bytes(32))) }
        let count = Int(try r.u32())
        var out: [ChunkRef] = []
        out.reserveCapacity(count)
        let payloadEnd = packSize - f - trailerLength
        for _ in 0..<count {
            let digest = Digest(bytes: try r.bytes(32))
            let offset = Int(try r.u64())
            let stored = Int(try r.u32())
            let raw = Int(try r.u32())
            guard let codec = Codec(rawValue: try r.u8()) else { throw PackFormatError("unknown codec") }
            _ = try r.u8()
            let di = Int(try r.u16())
            guard offset + stored <= payloadEnd else { throw PackFormatError("entry \(digest.short) overruns the payload") }
            let dict: Digest? = di == 0xFFFF ? nil : (di < dicts.count ? dicts[di] : nil)
            out.append(ChunkRef(digest: digest, location: ChunkLocation(pack: pack, offset: offset, storedSize: stored, rawSize: raw,
                                                                        codec: codec, dictionary: dict)))
        }
        return out
    }

    /// Length of the trailer (plus footer) given the pack's last 12 bytes.
    public static func trailerLength(footer: [UInt8]) throws -> Int {
        guard footer.count == PackWriter.footerSize, Array(footer[4...]) == PackWriter.footerMagic else {
            throw PackFormatError("missing pack footer")
        }
        var r = ByteReader(footer, at: 0)
        return Int(try r.u32()) + PackWriter.footerSize
    }
}

public struct PackFormatError: Error, CustomStringConvertible {
    public let description: String
    init(_ m: String) { description = "malformed pack: \(m)" }
}

/// Little-endian byte building for the binary formats.
struct ByteWriter {
    var bytes: [UInt8] = []
    mutating func append(_ b: [UInt8]) { bytes.append(contentsOf: b) }
    mutating func append(_ b: UnsafeRawBufferPointer) { bytes.append(contentsOf: b) }
    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
}

struct ByteReader {
    let data: [UInt8]
    var pos: Int
    init(_ data: [UInt8], at pos: Int) { self.data = data; self.pos = pos }
    mutating func bytes(_ n: Int) throws -> [UInt8] {
        guard pos >= 0, pos + n <= data.count else { throw PackFormatError("truncated") }
        defer { pos += n }
        return Array(data[pos..<(pos + n)])
    }
    mutating func u8() throws -> UInt8 { try bytes(1)[0] }
    mutating func u16() throws -> UInt16 { let b = try bytes(2); return UInt16(b[0]) | UInt16(b[1]) << 8 }
    mutating func u32() throws -> UInt32 { let b = try bytes(4); return b.reversed().reduce(0) { $0 << 8 | UInt32($1) } }
    mutating func u64() throws -> UInt64 { let b = try bytes(8); return b.reversed().reduce(0) { $0 << 8 | UInt64($1) } }
}
