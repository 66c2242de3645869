#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where a zip archive (htmlzip, ePub, jar, …) should be cut into chunks so that its members dedup
/// across rebuilds: each member's local header, each member's compressed data, and the central
/// directory land in separate chunks. A rebuild rewrites every header (new timestamps) and the central
/// directory, but the compressed data of unchanged members is byte-identical, and with cuts at member
/// boundaries those bytes become the same chunks as before.
///
/// Only a hint to the chunker: the cuts change where chunks are cut, never which bytes are stored. An
/// archive that is not well formed (truncated, overlapping or out-of-bounds members, multi-disk, a
/// masked or encrypted central directory, too many members) yields nil, and the caller chunks the file
/// plainly. Zip64 archives are parsed (zip64 end records and extra fields); traditional (ZipCrypto or
/// AES) encryption of member data does not move any boundary, so such archives are cut like any other.
/// The archive may be preceded by other bytes (a self-extractor stub): offsets are corrected for it.
///
/// Memory is bounded whatever the file size: the central directory is read through a 64 KiB window and
/// each local header with one small read; the result holds at most 3 offsets per member.
public enum ZipBoundaries {
    /// Archives with more members than this are chunked plainly (bounds the size of the cut list).
    public static let maxMembers = 1 << 20

    /// Reads `count` bytes at `offset` into `into`; returns how many were read (short only at EOF), or
    /// nil on an I/O error.
    public typealias Reader = (_ offset: Int, _ into: UnsafeMutableRawBufferPointer) -> Int?

    /// The four bytes every local header (and so every ordinary zip file) starts with: "PK\u{3}\u{4}".
    public static let localHeaderSignature: UInt32 = 0x0403_4b50

    /// Whether `prefix` starts like a zip archive (a cheap test before the real parse).
    public static func looksLikeZip(_ prefix: UnsafeRawBufferPointer) -> Bool {
        prefix.count >= 4 && prefix.loadLE32(0) == localHeaderSignature
    }

    /// The forced cut offsets of a zip archive of `fileSize` bytes read through `read`: strictly
    /// increasing, each in 1..<fileSize. Nil when the bytes are not a well-formed zip archive.
    public static func cuts(fileSize: Int, read: Reader) -> [Int]? {
        withoutActuallyEscaping(read) { read in
            var parser = Parser(fileSize: fileSize, read: read)
            return parser.parse()
        }
    }

    /// Cuts of the file open at `fd` (read with pread, so the file offset does not move).
    public static func cuts(fd: Int32, fileSize: Int) -> [Int]? {
        cuts(fileSize: fileSize) { offset, into in try? FileIO.readFull(fd, into: into, at: offset) }
    }

    /// Cuts of an archive held in memory.
    public static func cuts(in data: UnsafeRawBufferPointer) -> [Int]? {
        cuts(fileSize: data.count) { offset, into in
            guard offset >= 0, offset <= data.count else { return 0 }
            let n = min(into.count, data.count - offset)
            if n > 0 { into.baseAddress!.copyMemory(from: data.baseAddress! + offset, byteCount: n) }
            return n
        }
    }

    /// Cuts of an archive held in memory.
    public static func cuts(in bytes: [UInt8]) -> [Int]? {
        bytes.withUnsafeBytes { cuts(in: $0) }
    }
}

// MARK: - Parsing

extension ZipBoundaries {
    struct Member {
        var headerOffset: Int
        var compressedSize: Int
    }

    /// A read-only view of a byte range of the file, refilled on demand.
    struct Window: ~Copyable {
        let read: Reader
        let fileSize: Int
        let buffer: UnsafeMutableRawBufferPointer
        var start = 0
        var count = 0

        init(read: @escaping Reader, fileSize: Int, capacity: Int) {
            self.read = read
            self.fileSize = fileSize
            buffer = .allocate(byteCount: capacity, alignment: 8)
        }

        deinit { buffer.deallocate() }

        /// The `length` bytes at `offset`, or nil when they are not all inside the file (or unreadable).
        mutating func bytes(at offset: Int, length: Int) -> UnsafeRawBufferPointer? {
            guard offset >= 0, length >= 0, length <= buffer.count, offset <= fileSize - length else { return nil }
            if offset < start || offset + length > start + count {
                let want = min(buffer.count, fileSize - offset)
                guard let n = read(offset, UnsafeMutableRawBufferPointer(rebasing: buffer[..<want])), n >= length else { return nil }
                start = offset
                count = n
            }
            return UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(buffer)[(offset - start)..<(offset - start + length)])
        }
    }

    struct Parser {
        let fileSize: Int
        let read: Reader

        init(fileSize: Int, read: @escaping Reader) {
            self.fileSize = fileSize
            self.read = read
        }

        static let eocdSignature: UInt32 = 0x0605_4b50
        static let eocd64Signature: UInt32 = 0x0606_4b50
        static let eocd64LocatorSignature: UInt32 = 0x0706_4b50
        static let centralSignature: UInt32 = 0x0201_4b50
        static let eocdSize = 22
        static let maxComment = 0xFFFF

        mutating func parse() -> [Int]? {
            guard fileSize >= Self.eocdSize + 30 else { return nil }

            // 1. End of central directory: the last 64 KiB + 22 bytes, searched backwards; the comment
            //    length must reach exactly the end of the file.
            let tailLength = min(fileSize, Self.maxComment + Self.eocdSize)
            let tailStart = fileSize - tailLength
            var tail = Window(read: read, fileSize: fileSize, capacity: tailLength)
            guard let t = tail.bytes(at: tailStart, length: tailLength) else { return nil }
            var eocdAt = -1
            var i = tailLength - Self.eocdSize
            while i >= 0 {
                if t.loadLE32(i) == Self.eocdSignature, i + Self.eocdSize + Int(t.loadLE16(i + 20)) == tailLength {
                    eocdAt = i
                    break
                }
                i -= 1
            }
            guard eocdAt >= 0 else { return nil }
            let eocd = tailStart + eocdAt
            var disk = Int(t.loadLE16(eocdAt + 4)), cdDisk = Int(t.loadLE16(eocdAt + 6))
            var entriesHere = Int(t.loadLE16(eocdAt + 8)), entries = Int(t.loadLE16(eocdAt + 10))
            var cdSize = Int(t.loadLE32(eocdAt + 12)), cdOffset = Int(t.loadLE32(eocdAt + 16))
            // Where the central directory's bytes end: the zip64 end record, if any, else the EOCD.
            var cdEnd = eocd
            var endRecords = [eocd]

            // 2. Zip64: a locator right before the EOCD points at the zip64 end record.
            if eocd >= 20, let loc = tail.bytes(at: eocd - 20, length: 20), loc.loadLE32(0) == Self.eocd64LocatorSignature {
                guard loc.loadLE32(4) == 0, loc.loadLE32(16) <= 1 else { return nil }
                // The record normally sits right before the locator (a stub before the archive shifts the
                // offset it records); it may carry an extensible data sector, so its size is read from it.
                let fixedSize = 56
                var at = -1
                if let recorded = Int(exactly: loc.loadLE64(8)), recorded <= eocd - 20 - fixedSize,
                   let r = tail.bytes(at: recorded, length: 12), r.loadLE32(0) == Self.eocd64Signature,
                   r.loadLE64(4) == UInt64(eocd - 20 - recorded - 12) {
                    at = recorded
                } else if eocd - 20 - fixedSize >= 0, let r = tail.bytes(at: eocd - 20 - fixedSize, length: 12),
                          r.loadLE32(0) == Self.eocd64Signature, r.loadLE64(4) == UInt64(fixedSize - 12) {
                    at = eocd - 20 - fixedSize
                }
                guard at >= 0, let r = tail.bytes(at: at, length: fixedSize) else { return nil }
                disk = Int(r.loadLE32(16)); cdDisk = Int(r.loadLE32(20))
                guard let eh = Int(exactly: r.loadLE64(24)), let en = Int(exactly: r.loadLE64(32)),
                      let cs = Int(exactly: r.loadLE64(40)), let co = Int(exactly: r.loadLE64(48)) else { return nil }
                entriesHere = eh; entries = en; cdSize = cs; cdOffset = co
                cdEnd = at
                endRecords = [at, eocd - 20, eocd]
            }
            guard disk == 0, cdDisk == 0, entriesHere == entries, entries <= ZipBoundaries.maxMembers else { return nil }

            // 3. Bytes before the archive (a self-extractor stub) shift every recorded offset.
            let cdStart = cdEnd - cdSize
            guard cdSize >= 0, cdStart >= 0, cdOffset <= cdStart else { return nil }
            let bias = cdStart - cdOffset
            guard entries > 0, cdSize >= entries * 46 else { return nil }

            // 4. The central directory, entry by entry.
            var cd = Window(read: read, fileSize: fileSize, capacity: 64 << 10)
            var members: [Member] = []
            members.reserveCapacity(entries)
            var p = cdStart
            for _ in 0..<entries {
                guard p + 46 <= cdEnd, let h = cd.bytes(at: p, length: 46), h.loadLE32(0) == Self.centralSignature else { return nil }
                let flags = h.loadLE16(8)
                // Bit 6: strong encryption; bit 13: the local headers' values are masked.
                guard flags & (1 << 6 | 1 << 13) == 0 else { return nil }
                var compressed = UInt64(h.loadLE32(20))
                let uncompressed32 = h.loadLE32(24)
                let nameLength = Int(h.loadLE16(28)), extraLength = Int(h.loadLE16(30)), commentLength = Int(h.loadLE16(32))
                let startDisk = h.loadLE16(34)
                var localOffset = UInt64(h.loadLE32(42))
                let entryLength = 46 + nameLength + extraLength + commentLength
                guard p + entryLength <= cdEnd else { return nil }
                if compressed == 0xFFFF_FFFF || localOffset == 0xFFFF_FFFF || uncompressed32 == 0xFFFF_FFFF || startDisk == 0xFFFF {
                    // Zip64 extended information (header 0x0001): the 64-bit values, in this order, of
                    // exactly the fields that are saturated.
                    guard let extra = cd.bytes(at: p + 46 + nameLength, length: extraLength),
                          let z = Self.zip64Field(extra) else { return nil }
                    var k = 0
                    func next8() -> UInt64? {
                        guard k + 8 <= z.count else { return nil }
                        defer { k += 8 }
                        return z.loadLE64(k)
                    }
                    if uncompressed32 == 0xFFFF_FFFF { guard next8() != nil else { return nil } }
                    if compressed == 0xFFFF_FFFF { guard let v = next8() else { return nil }; compressed = v }
                    if localOffset == 0xFFFF_FFFF { guard let v = next8() else { return nil }; localOffset = v }
                    if startDisk == 0xFFFF {
                        guard k + 4 <= z.count, z.loadLE32(k) == 0 else { return nil }
                    } else if startDisk != 0 { return nil }
                } else if startDisk != 0 {
                    return nil
                }
                guard let c = Int(exactly: compressed), let o = Int(exactly: localOffset), o <= Int.max - bias else { return nil }
                members.append(Member(headerOffset: o + bias, compressedSize: c))
                p += entryLength
            }
            // Every byte of the directory is accounted for.
            guard p == cdEnd else { return nil }

            // 5. Local headers: each member's header length comes from its own local header (its extra
            //    field often differs from the central one). Members must not overlap.
            members.sort { $0.headerOffset < $1.headerOffset }
            var local = Window(read: read, fileSize: fileSize, capacity: 512)
            var out: [Int] = []
            out.reserveCapacity(members.count * 3 + 4)
            var previousEnd = 0
            for m in members {
                guard m.headerOffset >= previousEnd, m.headerOffset <= cdStart - 30,
                      let h = local.bytes(at: m.headerOffset, length: 30), h.loadLE32(0) == ZipBoundaries.localHeaderSignature
                else { return nil }
                let dataStart = m.headerOffset + 30 + Int(h.loadLE16(26)) + Int(h.loadLE16(28))
                guard dataStart <= cdStart, m.compressedSize <= cdStart - dataStart else { return nil }
                let dataEnd = dataStart + m.compressedSize
                out.append(m.headerOffset)
                out.append(dataStart)
                out.append(dataEnd)
                previousEnd = dataEnd
            }
            out.append(cdStart)
            out.append(contentsOf: endRecords)

            // 6. Strictly increasing, inside the file: drop 0, the end, and repeats (empty members).
            var cuts: [Int] = []
            cuts.reserveCapacity(out.count)
            for c in out where c > 0 && c < fileSize && c > (cuts.last ?? 0) { cuts.append(c) }
            return cuts
        }

        /// The data of the zip64 extended information field (header id 1) in an extra field, if any.
        static func zip64Field(_ extra: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
            var k = 0
            while k + 4 <= extra.count {
                let id = extra.loadLE16(k), size = Int(extra.loadLE16(k + 2))
                guard k + 4 + size <= extra.count else { return nil }
                if id == 1 { return UnsafeRawBufferPointer(rebasing: extra[(k + 4)..<(k + 4 + size)]) }
                k += 4 + size
            }
            return nil
        }
    }
}

extension UnsafeRawBufferPointer {
    @inline(__always)
    func loadLE16(_ offset: Int) -> UInt16 { UInt16(littleEndian: loadUnaligned(fromByteOffset: offset, as: UInt16.self)) }
    @inline(__always)
    func loadLE32(_ offset: Int) -> UInt32 { UInt32(littleEndian: loadUnaligned(fromByteOffset: offset, as: UInt32.self)) }
    @inline(__always)
    func loadLE64(_ offset: Int) -> UInt64 { UInt64(littleEndian: loadUnaligned(fromByteOffset: offset, as: UInt64.self)) }
}
