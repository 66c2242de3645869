import TroveContent

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
