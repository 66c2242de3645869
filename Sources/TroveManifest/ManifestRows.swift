import TroveContent

/// The tables `ManifestWriter` fills. The case order is the order the last, partial batches are
/// inserted in (part of what makes the bytes deterministic).
enum ManifestTable: Int, CaseIterable, Sendable {
    case packs, dictionaries, chunks, files, fileChunks

    var insertHead: String {
        switch self {
        case .packs: "packs(id, digest)"
        case .dictionaries: "dictionaries(id, digest)"
        case .chunks: "chunks(id, digest, raw_size, stored_size, codec, dictionary_id, pack_id, pack_offset)"
        case .files: "files(id, path, kind, size, mode, content_type, digest, link_target)"
        case .fileChunks: "file_chunks(file_id, seq, file_offset, chunk_id)"
        }
    }

    var columns: Int {
        switch self {
        case .packs, .dictionaries: 2
        case .chunks, .files: 8
        case .fileChunks: 4
        }
    }

    /// Rows per multi-row INSERT: SQLite's cost is mostly per statement run, so 64 rows per run write a
    /// manifest about a third faster than one (trove-bench manifest; docs/benchmarks.md).
    static let batchRows = 64

    func sql(rows: Int) -> String {
        let row = "(" + Array(repeating: "?", count: columns).joined(separator: ",") + ")"
        return "INSERT INTO \(insertHead) VALUES " + Array(repeating: row, count: rows).joined(separator: ",")
    }
}

/// Up to `ManifestTable.batchRows` rows of one table, ready to bind without allocating: integers
/// inline, text and digests copied into one byte arena that the statement reads in place.
struct RowBatch: Sendable {
    /// One bound value: an integer, NULL, a 32-byte digest or text (`value` is then the arena offset).
    struct Slot: Sendable {
        var value: Int
        var length: Int32
        static let integer: Int32 = -1, null: Int32 = -2, digest: Int32 = -3
    }

    let table: ManifestTable
    private(set) var slots: [Slot] = []
    /// Starts with one byte so that even empty text binds a non-nil pointer (nil would bind NULL).
    private(set) var arena: [UInt8] = [0]

    init(_ table: ManifestTable, arenaCapacity: Int = 0) {
        self.table = table
        slots.reserveCapacity(table.columns * ManifestTable.batchRows)
        if arenaCapacity > 0 { arena.reserveCapacity(arenaCapacity) }
    }

    var rows: Int { slots.count / table.columns }
    var isEmpty: Bool { slots.isEmpty }
    var isFull: Bool { slots.count == table.columns * ManifestTable.batchRows }

    @inline(__always) mutating func int(_ v: Int) { slots.append(Slot(value: v, length: Slot.integer)) }
    @inline(__always) mutating func int(_ v: Int?) {
        if let v { int(v) } else { slots.append(Slot(value: 0, length: Slot.null)) }
    }
    @inline(__always) mutating func text(_ s: String?) {
        guard let s else { slots.append(Slot(value: 0, length: Slot.null)); return }
        slots.append(Slot(value: arena.count, length: Int32(s.utf8.count)))
        arena.append(contentsOf: s.utf8)
    }
    @inline(__always) mutating func digest(_ d: Digest?) {
        guard let d else { slots.append(Slot(value: 0, length: Slot.null)); return }
        slots.append(Slot(value: arena.count, length: Slot.digest))
        d.withBytes { arena.append(contentsOf: $0) }
    }
}

/// Digest → row id (1, 2, … by first insertion), open addressing on the digest's first word (SHA-256
/// output is uniform): no `Hasher`, no per-lookup seeding, one probe in the common case.
struct DigestIDs {
    private var keys: [Digest]
    private var ids: [Int32] // 0 = empty slot
    private var mask: Int
    private(set) var count = 0
    static let zero = [UInt8](repeating: 0, count: 32).withUnsafeBytes { Digest(bytes: $0) }

    init(capacity: Int) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        keys = Array(repeating: DigestIDs.zero, count: size)
        ids = Array(repeating: 0, count: size)
        mask = size - 1
    }

    /// The id of `d`, numbering it next when it is new.
    @inline(__always) mutating func id(_ d: Digest) -> (id: Int, new: Bool) {
        var i = Int(truncatingIfNeeded: d.w0) & mask
        while true {
            let id = ids[i]
            if id == 0 { break }
            if keys[i] == d { return (Int(id), false) }
            i = (i + 1) & mask
        }
        count += 1
        ids[i] = Int32(count)
        keys[i] = d
        if count * 2 > ids.count { grow() }
        return (count, true)
    }

    private mutating func grow() {
        let (oldKeys, oldIDs) = (keys, ids)
        let size = ids.count * 2
        keys = Array(repeating: DigestIDs.zero, count: size)
        ids = Array(repeating: 0, count: size)
        mask = size - 1
        for (k, id) in zip(oldKeys, oldIDs) where id != 0 {
            var i = Int(truncatingIfNeeded: k.w0) & mask
            while ids[i] != 0 { i = (i + 1) & mask }
            ids[i] = id
            keys[i] = k
        }
    }
}

/// Numbers a manifest's rows and lays them out in batches, in the order `ManifestWriter` inserts them:
/// files in the order added, chunk, pack and dictionary rows by first use. Pure Swift, no SQLite: full
/// batches collect in `ready`, in insertion order, for whoever runs SQLite (possibly another thread).
struct ManifestRows {
    private var packIDs: DigestIDs
    private var dictIDs = DigestIDs(capacity: 4)
    private var chunkIDs: DigestIDs
    private var files = RowBatch(.files, arenaCapacity: 8 << 10)
    private var chunks = RowBatch(.chunks, arenaCapacity: 2 << 10 + 64)
    private var packs = RowBatch(.packs, arenaCapacity: 2 << 10 + 64)
    private var dictionaries = RowBatch(.dictionaries, arenaCapacity: 64)
    private var fileChunks = RowBatch(.fileChunks)
    private var nextFileID = 1
    private(set) var fileCount = 0, logicalBytes = 0
    /// Full batches not yet inserted, oldest first.
    var ready: [RowBatch] = []

    /// `expectedChunks`: about how many distinct chunks will be added (sizes the id table).
    init(expectedChunks: Int = 0) {
        chunkIDs = DigestIDs(capacity: expectedChunks)
        packIDs = DigestIDs(capacity: max(16, expectedChunks / 256))
    }

    var chunkCount: Int { chunkIDs.count }

    /// Adds one path; returns its file id for `addChunk`.
    mutating func addFile(_ file: FileRecord) -> Int {
        let fid = nextFileID
        nextFileID += 1
        files.int(fid)
        files.text(file.path)
        files.text(file.kind.rawValue)
        files.int(file.size)
        files.int(file.mode)
        files.text(file.contentType)
        files.digest(file.digest)
        files.text(file.linkTarget)
        if files.isFull { ready.append(files); files = RowBatch(.files, arenaCapacity: 8 << 10) }
        if file.kind == .file { fileCount += 1; logicalBytes += file.size }
        return fid
    }

    /// Adds chunk number `seq` of file `fid`, at `offset` in the file.
    @inline(__always)
    mutating func addChunk(file fid: Int, seq: Int, offset: Int, digest: Digest, location: ChunkLocation) {
        let cid = chunkID(digest, location)
        fileChunks.int(fid)
        fileChunks.int(seq)
        fileChunks.int(offset)
        fileChunks.int(cid)
        if fileChunks.isFull { ready.append(fileChunks); fileChunks = RowBatch(.fileChunks) }
    }

    private mutating func chunkID(_ d: Digest, _ loc: ChunkLocation) -> Int {
        let (id, new) = chunkIDs.id(d)
        guard new else { return id }
        let (pid, newPack) = packIDs.id(loc.pack)
        if newPack {
            packs.int(pid)
            packs.digest(loc.pack)
            if packs.isFull { ready.append(packs); packs = RowBatch(.packs, arenaCapacity: 2 << 10 + 64) }
        }
        var did: Int? = nil
        if let dict = loc.dictionary {
            let (d, newDict) = dictIDs.id(dict)
            did = d
            if newDict {
                dictionaries.int(d)
                dictionaries.digest(dict)
                if dictionaries.isFull { ready.append(dictionaries); dictionaries = RowBatch(.dictionaries, arenaCapacity: 2 << 10 + 64) }
            }
        }
        chunks.int(id)
        chunks.digest(d)
        chunks.int(loc.rawSize)
        chunks.int(loc.storedSize)
        chunks.int(Int(loc.codec.rawValue))
        chunks.int(did)
        chunks.int(pid)
        chunks.int(loc.offset)
        if chunks.isFull { ready.append(chunks); chunks = RowBatch(.chunks, arenaCapacity: 2 << 10 + 64) }
        return id
    }

    /// Moves the last, partial batches to `ready`, in `ManifestTable` order.
    mutating func flush() {
        for b in [packs, dictionaries, chunks, files, fileChunks] where !b.isEmpty { ready.append(b) }
        packs = RowBatch(.packs); dictionaries = RowBatch(.dictionaries); chunks = RowBatch(.chunks)
        files = RowBatch(.files); fileChunks = RowBatch(.fileChunks)
    }
}
