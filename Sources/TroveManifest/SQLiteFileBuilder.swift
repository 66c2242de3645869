import TroveContent

/// Builds an SQLite database file in memory, page by page, without the SQLite library: b-trees are
/// laid out bottom-up from rows given in key order. Manifests are written this way because SQLite's
/// own insert path (parse-free, multi-row, bound in place) was still ~80% of building one; laying out
/// pages directly is about ten times cheaper. Reading stays with SQLite.
///
/// The file follows https://www.sqlite.org/fileformat2.html: 4096-byte pages, schema format 4, UTF-8,
/// rollback-journal mode, no freelist, no auto-vacuum, no reserved bytes. Cells are packed from the
/// end of each page with no free blocks; every page but a tree's last of each level is filled as far
/// as the next cell allows. `PRAGMA integrity_check` accepts the result (tests check it on every shape:
/// empty tables, multi-level trees, overflow pages).
struct SQLiteFileBuilder {
    static let pageSize = 4096
    /// Written into the header as the SQLite version that last wrote the file: a constant, so the bytes
    /// do not depend on the SQLite library installed.
    static let versionNumber: UInt32 = 3_040_001

    /// Pages 1…n back to back; page 1 (header and schema) is reserved and filled by `finish`.
    private(set) var data: [UInt8]
    var pageCount: Int { data.count / SQLiteFileBuilder.pageSize }

    init(expectedBytes: Int = 0) {
        data = []
        data.reserveCapacity(max(expectedBytes, 4 * SQLiteFileBuilder.pageSize))
        data.append(contentsOf: SQLiteFileBuilder.zeroPage)
    }

    static let zeroPage = [UInt8](repeating: 0, count: pageSize)

    /// Appends a finished page; returns its page number.
    mutating func append(_ page: SQLitePage) -> UInt32 {
        page.bytes.withUnsafeBufferPointer { data.append(contentsOf: $0) }
        return UInt32(pageCount)
    }

    /// Stores `payload[from...]` in a chain of overflow pages; returns the first page's number.
    mutating func appendOverflow(_ payload: UnsafeRawBufferPointer, from: Int) -> UInt32 {
        let per = SQLiteFileBuilder.pageSize - 4
        let first = UInt32(pageCount + 1)
        var offset = from
        while offset < payload.count {
            let n = min(per, payload.count - offset)
            let next = offset + n < payload.count ? UInt32(pageCount + 2) : 0
            appendBE32(next)
            data.append(contentsOf: UnsafeRawBufferPointer(rebasing: payload[offset..<(offset + n)]))
            SQLiteFileBuilder.zeroPage.withUnsafeBufferPointer { data.append(contentsOf: $0[..<(per - n)]) }
            offset += n
        }
        return first
    }

    private mutating func appendBE32(_ v: UInt32) {
        data.append(UInt8(v >> 24)); data.append(UInt8(truncatingIfNeeded: v >> 16))
        data.append(UInt8(truncatingIfNeeded: v >> 8)); data.append(UInt8(truncatingIfNeeded: v))
    }

    /// Writes page 1: the 100-byte header and the `sqlite_schema` table (one leaf: it must fit), whose
    /// rows are `(type, name, tbl_name, rootpage, sql)`. Returns the finished file.
    mutating func finish(schema: [(type: String, name: String, table: String, root: UInt32, sql: String?)]) -> [UInt8] {
        var page = SQLitePage(.tableLeaf, headerOffset: 100)
        var record = RecordEncoder()
        for (i, row) in schema.enumerated() {
            record.reset()
            record.text(row.type)
            record.text(row.name)
            record.text(row.table)
            record.int(Int(row.root))
            record.text(row.sql)
            let payload = record.encoded()
            precondition(payload.count <= SQLitePage.Kind.tableLeaf.maxLocal, "schema row too large for page 1")
            var cell: [UInt8] = []
            appendVarint(UInt64(payload.count), to: &cell)
            appendVarint(UInt64(i + 1), to: &cell)
            cell.append(contentsOf: payload)
            precondition(page.fits(cell.count), "the schema must fit on page 1")
            page.add(cell)
        }
        page.seal()
        let pages = UInt32(pageCount)
        var header = [UInt8](repeating: 0, count: 100)
        header.replaceSubrange(0..<16, with: Array("SQLite format 3\u{0}".utf8))
        header[16] = UInt8(SQLiteFileBuilder.pageSize >> 8); header[17] = UInt8(SQLiteFileBuilder.pageSize & 0xff)
        header[18] = 1; header[19] = 1          // rollback journal (legacy) file format
        header[20] = 0                          // no reserved bytes per page
        header[21] = 64; header[22] = 32; header[23] = 32 // payload fractions (fixed by the format)
        putBE32(1, at: 24, in: &header)         // file change counter
        putBE32(pages, at: 28, in: &header)     // database size in pages (valid: see offset 92)
        putBE32(1, at: 40, in: &header)         // schema cookie
        putBE32(4, at: 44, in: &header)         // schema format 4
        putBE32(1, at: 56, in: &header)         // UTF-8
        putBE32(1, at: 92, in: &header)         // version-valid-for = change counter
        putBE32(SQLiteFileBuilder.versionNumber, at: 96, in: &header)
        page.bytes.replaceSubrange(0..<100, with: header)
        data.replaceSubrange(0..<SQLiteFileBuilder.pageSize, with: page.bytes)
        return data
    }
}

@inline(__always) func putBE32(_ v: UInt32, at i: Int, in b: inout [UInt8]) {
    b[i] = UInt8(v >> 24); b[i + 1] = UInt8(truncatingIfNeeded: v >> 16)
    b[i + 2] = UInt8(truncatingIfNeeded: v >> 8); b[i + 3] = UInt8(truncatingIfNeeded: v)
}

@inline(__always) func putBE32(_ v: UInt32, at p: UnsafeMutableRawPointer) {
    p.storeBytes(of: v.bigEndian, as: UInt32.self)
}

@inline(__always) func varintLength(_ v: UInt64) -> Int {
    if v <= 0x7f { return 1 }
    if v <= 0x3fff { return 2 }
    if v > 0x00ff_ffff_ffff_ffff { return 9 }
    var n = 1, x = v >> 7
    while x != 0 { n += 1; x >>= 7 }
    return n
}

/// Writes SQLite's variable-length integer (big-endian groups of 7 bits; a 9th byte, if any, carries
/// 8) at `p`; returns its length.
@inline(__always) @discardableResult
func putVarint(_ v: UInt64, at p: UnsafeMutableRawPointer) -> Int {
    if v <= 0x7f { p.storeBytes(of: UInt8(v), as: UInt8.self); return 1 }
    if v > 0x00ff_ffff_ffff_ffff {
        for i in 0..<8 { p.storeBytes(of: UInt8(truncatingIfNeeded: (v >> (64 - 7 * UInt64(i + 1))) & 0x7f) | 0x80, toByteOffset: i, as: UInt8.self) }
        p.storeBytes(of: UInt8(truncatingIfNeeded: v), toByteOffset: 8, as: UInt8.self)
        return 9
    }
    let n = varintLength(v)
    for i in 0..<(n - 1) {
        p.storeBytes(of: UInt8(truncatingIfNeeded: (v >> (7 * UInt64(n - 1 - i))) & 0x7f) | 0x80, toByteOffset: i, as: UInt8.self)
    }
    p.storeBytes(of: UInt8(v & 0x7f), toByteOffset: n - 1, as: UInt8.self)
    return n
}

func appendVarint(_ v: UInt64, to out: inout [UInt8]) {
    withUnsafeTemporaryAllocation(byteCount: 9, alignment: 1) { t in
        let n = putVarint(v, at: t.baseAddress!)
        out.append(contentsOf: UnsafeRawBufferPointer(rebasing: t[..<n]))
    }
}

/// Memory that lives as long as the last copy of the struct that holds it.
final class ScratchBuffer {
    private(set) var base: UnsafeMutableRawPointer
    private(set) var capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
        base = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
    }

    deinit { base.deallocate() }

    func grow(to n: Int) {
        guard n > capacity else { return }
        let bigger = UnsafeMutableRawPointer.allocate(byteCount: max(n, 2 * capacity), alignment: 16)
        bigger.copyMemory(from: base, byteCount: capacity)
        base.deallocate()
        base = bigger
        capacity = max(n, 2 * capacity)
    }
}

/// Encodes one record (row) at a time in SQLite's record format: a header (its own length, then one
/// serial type per column), then the values. Columns are added in order; `encoded()` gives the record.
struct RecordEncoder {
    // Serial types go at [typesStart, bodyStart), values from bodyStart on; `encoded()` moves the
    // header up against the values, its length in front.
    private static let typesStart = 16, bodyStart = 112
    private let scratch = ScratchBuffer(capacity: 4096)
    private var types = 0, body = 0

    init() {}

    mutating func reset() { types = 0; body = 0 }

    @inline(__always) private mutating func type(_ t: UInt64) {
        precondition(types + 9 <= RecordEncoder.bodyStart - RecordEncoder.typesStart, "too many columns")
        types += putVarint(t, at: scratch.base + RecordEncoder.typesStart + types)
    }

    @inline(__always) private mutating func reserve(_ n: Int) {
        if RecordEncoder.bodyStart + body + n > scratch.capacity { scratch.grow(to: RecordEncoder.bodyStart + body + n) }
    }

    @inline(__always) mutating func null() { type(0) }

    /// Integers in the fewest bytes, 0 and 1 as serial types 8 and 9 (schema format 4), as SQLite does.
    @inline(__always) mutating func int(_ v: Int) {
        let n: Int
        switch v {
        case 0: type(8); return
        case 1: type(9); return
        case -128...127: type(1); n = 1
        case -32768...32767: type(2); n = 2
        case -8_388_608...8_388_607: type(3); n = 3
        case Int(Int32.min)...Int(Int32.max): type(4); n = 4
        case -(1 << 47)...((1 << 47) - 1): type(5); n = 6
        default: type(6); n = 8
        }
        reserve(8)
        // The value's low n bytes, big-endian.
        withUnsafeBytes(of: UInt64(bitPattern: Int64(v)).bigEndian) { b in
            (scratch.base + RecordEncoder.bodyStart + body).copyMemory(from: b.baseAddress! + (8 - n), byteCount: n)
        }
        body += n
    }

    @inline(__always) mutating func int(_ v: Int?) { if let v { int(v) } else { null() } }

    @inline(__always) mutating func text(_ s: String?) {
        guard var s else { null(); return }
        s.withUTF8 { u in
            type(UInt64(13 + 2 * u.count))
            reserve(u.count)
            if u.count > 0 { (scratch.base + RecordEncoder.bodyStart + body).copyMemory(from: u.baseAddress!, byteCount: u.count) }
            body += u.count
        }
    }

    @inline(__always) mutating func blob(_ d: Digest?) {
        guard let d else { null(); return }
        type(12 + 2 * 32)
        reserve(32)
        d.withBytes { (scratch.base + RecordEncoder.bodyStart + body).copyMemory(from: $0.baseAddress!, byteCount: 32) }
        body += 32
    }

    /// The record, valid until the encoder is next used.
    mutating func encoded() -> UnsafeRawBufferPointer {
        let prefix = types + 1 <= 0x7f ? 1 : 2 // the header length counts itself (headers here are short)
        let start = RecordEncoder.bodyStart - types - prefix
        (scratch.base + start + prefix).copyMemory(from: scratch.base + RecordEncoder.typesStart, byteCount: types)
        putVarint(UInt64(types + prefix), at: scratch.base + start)
        return UnsafeRawBufferPointer(start: scratch.base + start, count: RecordEncoder.bodyStart + body - start)
    }
}

/// One b-tree page being filled: cells are added in key order, their content packed down from the end
/// of the page, their pointers up from the page header.
struct SQLitePage {
    enum Kind: UInt8 {
        case indexInterior = 2, tableInterior = 5, indexLeaf = 10, tableLeaf = 13

        var isLeaf: Bool { self == .indexLeaf || self == .tableLeaf }
        var isTable: Bool { self == .tableLeaf || self == .tableInterior }
        /// The largest payload kept entirely on the page (fileformat2.html, "Cell Payload Overflow Pages").
        var maxLocal: Int { isTable ? SQLiteFileBuilder.pageSize - 35 : (SQLiteFileBuilder.pageSize - 12) * 64 / 255 - 23 }
        static let minLocal = (SQLiteFileBuilder.pageSize - 12) * 32 / 255 - 23

        /// How many of a payload's `n` bytes stay on the page (the rest go to overflow pages).
        @inline(__always) func localSize(_ n: Int) -> Int {
            if n <= maxLocal { return n }
            let k = Kind.minLocal + (n - Kind.minLocal) % (SQLiteFileBuilder.pageSize - 4)
            return k <= maxLocal ? k : Kind.minLocal
        }
    }

    let kind: Kind
    let headerOffset: Int
    var bytes: [UInt8]
    private(set) var cells = 0
    private var contentStart = SQLiteFileBuilder.pageSize

    init(_ kind: Kind, headerOffset: Int = 0) {
        self.kind = kind
        self.headerOffset = headerOffset
        bytes = [UInt8](repeating: 0, count: SQLiteFileBuilder.pageSize)
    }

    private var headerSize: Int { kind.isLeaf ? 8 : 12 }

    var isEmpty: Bool { cells == 0 }

    /// Whether a cell of `size` bytes (plus its 2-byte pointer) still fits.
    @inline(__always) func fits(_ size: Int) -> Bool {
        contentStart - size >= headerOffset + headerSize + 2 * (cells + 1)
    }

    /// Adds a cell of `size` bytes, which `write` fills in place.
    @inline(__always) mutating func add(size: Int, _ write: (UnsafeMutableRawPointer) -> Void) {
        precondition(fits(size))
        contentStart -= size
        let start = contentStart, p = headerOffset + headerSize + 2 * cells
        bytes.withUnsafeMutableBytes { b in
            write(b.baseAddress! + start)
            b.baseAddress!.storeBytes(of: UInt16(start).bigEndian, toByteOffset: p, as: UInt16.self)
        }
        cells += 1
    }

    mutating func add(_ cell: [UInt8]) {
        cell.withUnsafeBytes { c in add(size: c.count) { $0.copyMemory(from: c.baseAddress!, byteCount: c.count) } }
    }

    /// Removes and returns the last cell added.
    mutating func removeLast() -> [UInt8] {
        precondition(cells > 0)
        let end = cells >= 2 ? pointer(cells - 2) : SQLiteFileBuilder.pageSize
        let cell = Array(bytes[contentStart..<end])
        for i in contentStart..<end { bytes[i] = 0 }
        cells -= 1
        let p = headerOffset + headerSize + 2 * cells
        bytes[p] = 0; bytes[p + 1] = 0
        contentStart = end
        return cell
    }

    private func pointer(_ i: Int) -> Int {
        let p = headerOffset + headerSize + 2 * i
        return Int(bytes[p]) << 8 | Int(bytes[p + 1])
    }

    /// Writes the page header (after the last cell is added).
    mutating func seal(rightChild: UInt32? = nil) {
        let h = headerOffset
        bytes[h] = kind.rawValue
        bytes[h + 1] = 0; bytes[h + 2] = 0                     // no free blocks
        bytes[h + 3] = UInt8(cells >> 8); bytes[h + 4] = UInt8(cells & 0xff)
        bytes[h + 5] = UInt8(contentStart >> 8); bytes[h + 6] = UInt8(contentStart & 0xff)
        bytes[h + 7] = 0                                      // no fragmented bytes
        if let rightChild {
            precondition(!kind.isLeaf)
            putBE32(rightChild, at: h + 8, in: &bytes)
        }
    }

    /// Empties the page for reuse.
    mutating func reset() {
        bytes.withUnsafeMutableBytes { _ = $0.initializeMemory(as: UInt8.self, repeating: 0) }
        cells = 0
        contentStart = SQLiteFileBuilder.pageSize
    }
}

/// A table b-tree (rowid table) built from rows in increasing rowid order: leaves are filled and
/// written as they go, interior pages at `finish`.
struct TableTreeBuilder {
    private var leaf = SQLitePage(.tableLeaf)
    /// Written leaves (or, while finishing, the level being built): page and largest rowid under it.
    private var closed: [(page: UInt32, key: Int)] = []
    private var lastKey = Int.min

    init() {}

    mutating func insert(rowid: Int, record: UnsafeRawBufferPointer, into file: inout SQLiteFileBuilder) {
        precondition(rowid > lastKey, "rows must come in increasing rowid order")
        let n = record.count, key = UInt64(bitPattern: Int64(rowid))
        let local = SQLitePage.Kind.tableLeaf.localSize(n)
        let size = varintLength(UInt64(n)) + varintLength(key) + local + (local < n ? 4 : 0)
        if !leaf.fits(size) {
            leaf.seal()
            closed.append((file.append(leaf), lastKey))
            leaf.reset()
        }
        let overflow = local < n ? file.appendOverflow(record, from: local) : 0
        leaf.add(size: size) { p in
            var o = putVarint(UInt64(n), at: p)
            o += putVarint(key, at: p + o)
            (p + o).copyMemory(from: record.baseAddress!, byteCount: local)
            if local < n { putBE32(overflow, at: p + o + local) }
        }
        lastKey = rowid
    }

    /// Writes the last leaf and the interior levels; returns the root page.
    mutating func finish(into file: inout SQLiteFileBuilder) -> UInt32 {
        leaf.seal()
        let last = file.append(leaf)
        if closed.isEmpty { return last }
        var level = closed
        level.append((last, lastKey))
        while level.count > 1 { level = TableTreeBuilder.interiorLevel(level, into: &file) }
        return level[0].page
    }

    /// One level of interior pages over `children`: each page holds cells (child, largest key under it)
    /// for all its children but the last, which is the page's right-most pointer.
    private static func interiorLevel(_ children: [(page: UInt32, key: Int)], into file: inout SQLiteFileBuilder) -> [(page: UInt32, key: Int)] {
        // Plan the groups of children per page first, so the last page never ends up with one child.
        var groups: [Range<Int>] = []
        var start = 0, used = 12
        for i in 1..<children.count {
            let need = 4 + varintLength(UInt64(bitPattern: Int64(children[i - 1].key))) + 2
            if used + need > SQLiteFileBuilder.pageSize {
                groups.append(start..<i)
                start = i
                used = 12
            } else {
                used += need
            }
        }
        groups.append(start..<children.count)
        if groups.count > 1, groups[groups.count - 1].count == 1 {
            let prev = groups[groups.count - 2], last = groups[groups.count - 1]
            groups[groups.count - 2] = prev.lowerBound..<(prev.upperBound - 1)
            groups[groups.count - 1] = (last.lowerBound - 1)..<last.upperBound
        }
        var out: [(page: UInt32, key: Int)] = []
        var page = SQLitePage(.tableInterior)
        var cell: [UInt8] = []
        for g in groups {
            page.reset()
            for i in g.dropLast() {
                cell.removeAll(keepingCapacity: true)
                let c = children[i].page
                cell.append(contentsOf: [UInt8(c >> 24), UInt8(truncatingIfNeeded: c >> 16), UInt8(truncatingIfNeeded: c >> 8), UInt8(truncatingIfNeeded: c)])
                appendVarint(UInt64(bitPattern: Int64(children[i].key)), to: &cell)
                page.add(cell)
            }
            page.seal(rightChild: children[g.upperBound - 1].page)
            out.append((file.append(page), children[g.upperBound - 1].key))
        }
        return out
    }
}

/// An index b-tree (an index, or a WITHOUT ROWID table) built from records in increasing key order.
/// Unlike a table b-tree, every record is stored exactly once: the records that divide two pages sit in
/// the parent page. Leaves are written as they go, interior pages at `finish`.
struct IndexTreeBuilder {
    private var leaf = SQLitePage(.indexLeaf)
    private var children: [UInt32] = []
    /// Cells (payload size, local payload, overflow page) of the records between consecutive children.
    private var dividers: [[UInt8]] = []
    /// A record that did not fit the current leaf: it divides that leaf from the next one, unless it is
    /// the last record.
    private var pending: [UInt8]? = nil

    init() {}

    /// The cell for a record, spilling to overflow pages when it is too large: the same bytes serve on
    /// a leaf and, after a 4-byte child pointer, on an interior page.
    static func cell(_ record: UnsafeRawBufferPointer, into file: inout SQLiteFileBuilder) -> [UInt8] {
        let n = record.count
        let local = SQLitePage.Kind.indexLeaf.localSize(n)
        var cell: [UInt8] = []
        cell.reserveCapacity(9 + local + 4)
        appendVarint(UInt64(n), to: &cell)
        cell.append(contentsOf: UnsafeRawBufferPointer(rebasing: record[..<local]))
        if local < n {
            let first = file.appendOverflow(record, from: local)
            cell.append(contentsOf: [UInt8(first >> 24), UInt8(truncatingIfNeeded: first >> 16), UInt8(truncatingIfNeeded: first >> 8), UInt8(truncatingIfNeeded: first)])
        }
        return cell
    }

    mutating func insert(record: UnsafeRawBufferPointer, into file: inout SQLiteFileBuilder) {
        if let p = pending {
            leaf.seal()
            children.append(file.append(leaf))
            leaf.reset()
            dividers.append(p.withUnsafeBytes { IndexTreeBuilder.cell($0, into: &file) })
            pending = nil
        }
        let n = record.count
        let local = SQLitePage.Kind.indexLeaf.localSize(n)
        let size = varintLength(UInt64(n)) + local + (local < n ? 4 : 0)
        if !leaf.fits(size) {
            pending = Array(record)
        } else if local == n {
            leaf.add(size: size) { p in
                let o = putVarint(UInt64(n), at: p)
                (p + o).copyMemory(from: record.baseAddress!, byteCount: n)
            }
        } else {
            leaf.add(IndexTreeBuilder.cell(record, into: &file))
        }
    }

    /// Writes the last leaf and the interior levels; returns the root page.
    mutating func finish(into file: inout SQLiteFileBuilder) -> UInt32 {
        if let last = pending {
            // The last record has no leaf of its own yet: the current leaf's last record becomes the
            // divider and `last` the next (last) leaf.
            precondition(leaf.cells >= 2, "an index leaf holds at least three cells")
            let divider = leaf.removeLast()
            leaf.seal()
            children.append(file.append(leaf))
            dividers.append(divider)
            leaf.reset()
            leaf.add(last.withUnsafeBytes { IndexTreeBuilder.cell($0, into: &file) })
        }
        leaf.seal()
        children.append(file.append(leaf))
        var (kids, divs) = (children, dividers)
        while kids.count > 1 { (kids, divs) = IndexTreeBuilder.interiorLevel(kids, divs, into: &file) }
        return kids[0]
    }

    /// One level of interior pages over `children` separated by `dividers`: each page holds cells
    /// (child, divider after it) and a right-most child; the dividers between pages move up a level.
    private static func interiorLevel(_ children: [UInt32], _ dividers: [[UInt8]],
                                      into file: inout SQLiteFileBuilder) -> ([UInt32], [[UInt8]]) {
        // Each group: the dividers (by index) whose cells are on one page; its right-most child is the
        // child after its last divider. Divider indices between groups move up.
        var groups: [Range<Int>] = []
        var up: [Int] = []
        var start = 0, used = 12
        for i in 0..<dividers.count {
            let need = 4 + dividers[i].count + 2
            if used + need > SQLiteFileBuilder.pageSize {
                groups.append(start..<i)
                up.append(i)
                start = i + 1
                used = 12
            } else {
                used += need
            }
        }
        groups.append(start..<dividers.count)
        if groups.count > 1, groups[groups.count - 1].isEmpty {
            // Never a page with a right-most child only: the previous page's last divider moves up
            // instead, and the one that moved up comes down to the last page.
            let prev = groups[groups.count - 2]
            precondition(prev.count >= 2, "an interior index page holds at least three cells")
            groups[groups.count - 2] = prev.lowerBound..<(prev.upperBound - 1)
            groups[groups.count - 1] = up[up.count - 1]..<(up[up.count - 1] + 1)
            up[up.count - 1] = prev.upperBound - 1
        }
        var pages: [UInt32] = []
        var page = SQLitePage(.indexInterior)
        var cell: [UInt8] = []
        for g in groups {
            page.reset()
            for i in g {
                cell.removeAll(keepingCapacity: true)
                let c = children[i]
                cell.append(contentsOf: [UInt8(c >> 24), UInt8(truncatingIfNeeded: c >> 16), UInt8(truncatingIfNeeded: c >> 8), UInt8(truncatingIfNeeded: c)])
                cell.append(contentsOf: dividers[i])
                page.add(cell)
            }
            page.seal(rightChild: children[g.upperBound]) // the child after the group's last divider
            pages.append(file.append(page))
        }
        return (pages, up.map { dividers[$0] })
    }
}
