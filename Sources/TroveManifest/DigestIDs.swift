import TroveContent

/// Digest → row id (1, 2, … by first insertion), open addressing on the digest's first word (SHA-256
/// output is uniform): no `Hasher`, no per-lookup seeding, one probe in the common case. The table
/// holds 4-byte ids; digests sit in insertion order beside it (half the memory a table of digests
/// would touch, which a fresh process pays for in page faults).
struct DigestIDs {
    private var slots: [Int32] // id, 0 = empty
    private var digests: [Digest] = []
    private var mask: Int

    init(capacity: Int) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        slots = Array(repeating: 0, count: size)
        mask = size - 1
        digests.reserveCapacity(capacity)
    }

    var count: Int { digests.count }

    /// The id of `d`, numbering it next when it is new.
    @inline(__always) mutating func id(_ d: Digest) -> (id: Int, new: Bool) {
        var i = Int(truncatingIfNeeded: d.w0) & mask
        while true {
            let id = slots[i]
            if id == 0 { break }
            if digests[Int(id) - 1] == d { return (Int(id), false) }
            i = (i + 1) & mask
        }
        digests.append(d)
        slots[i] = Int32(digests.count)
        if digests.count * 2 > slots.count { grow() }
        return (digests.count, true)
    }

    private mutating func grow() {
        slots = Array(repeating: 0, count: slots.count * 2)
        mask = slots.count - 1
        for (n, d) in digests.enumerated() {
            var i = Int(truncatingIfNeeded: d.w0) & mask
            while slots[i] != 0 { i = (i + 1) & mask }
            slots[i] = Int32(n + 1)
        }
    }
}
