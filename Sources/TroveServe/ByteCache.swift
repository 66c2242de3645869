import Hummingbird
import Synchronization

/// A least-recently-used cache of byte buffers with a byte budget. Keys are content addresses, so an
/// entry can never go stale: the same key always names the same bytes.
public final class ByteCache<Key: Hashable & Sendable>: Sendable {
    struct Node {
        var key: Key
        var value: ByteBuffer
        var prev: Int
        var next: Int
    }

    struct State {
        var index: [Key: Int] = [:]
        var nodes: [Node] = []
        var free: [Int] = []
        var head = -1 // most recent
        var tail = -1 // least recent
        var bytes = 0
        var hits = 0, misses = 0, evictions = 0

        mutating func unlink(_ i: Int) {
            let p = nodes[i].prev, n = nodes[i].next
            if p >= 0 { nodes[p].next = n } else { head = n }
            if n >= 0 { nodes[n].prev = p } else { tail = p }
        }

        mutating func pushFront(_ i: Int) {
            nodes[i].prev = -1
            nodes[i].next = head
            if head >= 0 { nodes[head].prev = i }
            head = i
            if tail < 0 { tail = i }
        }
    }

    public let budget: Int
    /// Entries larger than this are not cached (one huge file must not flush everything hot).
    public let maxEntry: Int
    private let state = Mutex(State())

    public init(budget: Int, maxEntry: Int? = nil) {
        self.budget = max(0, budget)
        self.maxEntry = maxEntry ?? max(0, budget / 16)
    }

    /// The bytes for `key`, marking them recently used. `counted: false` keeps the lookup out of the
    /// hit/miss statistics (for opportunistic lookups that fall back to counted ones).
    public func get(_ key: Key, counted: Bool = true) -> ByteBuffer? {
        state.withLock { s in
            guard let i = s.index[key] else { if counted { s.misses += 1 }; return nil }
            if counted { s.hits += 1 }
            if s.head != i { s.unlink(i); s.pushFront(i) }
            return s.nodes[i].value
        }
    }

    /// The bytes for `key` if present, counting only a hit (a miss falls back to a lookup that counts it).
    public func hit(_ key: Key) -> ByteBuffer? {
        state.withLock { s in
            guard let i = s.index[key] else { return nil }
            s.hits += 1
            if s.head != i { s.unlink(i); s.pushFront(i) }
            return s.nodes[i].value
        }
    }

    /// Counts a hit served from something derived from cached entries.
    public func countHit() { state.withLock { $0.hits += 1 } }

    public func contains(_ key: Key) -> Bool { state.withLock { $0.index[key] != nil } }

    public func put(_ key: Key, _ value: ByteBuffer) {
        let size = value.readableBytes
        guard size <= maxEntry, size <= budget else { return }
        state.withLock { s in
            if let i = s.index[key] {
                s.bytes += size - s.nodes[i].value.readableBytes
                s.nodes[i].value = value
                if s.head != i { s.unlink(i); s.pushFront(i) }
            } else {
                let node = Node(key: key, value: value, prev: -1, next: -1)
                let i: Int
                if let f = s.free.popLast() { s.nodes[f] = node; i = f } else { s.nodes.append(node); i = s.nodes.count - 1 }
                s.index[key] = i
                s.pushFront(i)
                s.bytes += size
            }
            while s.bytes > budget, s.tail >= 0 {
                let t = s.tail
                s.unlink(t)
                s.bytes -= s.nodes[t].value.readableBytes
                s.index[s.nodes[t].key] = nil
                s.nodes[t].value = ByteBuffer()
                s.free.append(t)
                s.evictions += 1
            }
        }
    }

    public struct Stats: Sendable, Equatable {
        public var entries: Int, bytes: Int, hits: Int, misses: Int, evictions: Int
    }

    public var stats: Stats {
        state.withLock { Stats(entries: $0.index.count, bytes: $0.bytes, hits: $0.hits, misses: $0.misses, evictions: $0.evictions) }
    }
}

/// A bounded map for small derived values (path resolutions, ref lookups): cleared wholesale when full,
/// which keeps hostile request floods from growing memory and costs nothing on the hot path.
final class BoundedMap<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private let state = Mutex<[Key: Value]>([:])
    let limit: Int
    init(limit: Int) { self.limit = limit }

    func get(_ key: Key) -> Value? { state.withLock { $0[key] } }

    func put(_ key: Key, _ value: Value) {
        state.withLock { m in
            if m.count >= limit { m.removeAll(keepingCapacity: true) }
            m[key] = value
        }
    }

    func remove(_ key: Key) { _ = state.withLock { $0.removeValue(forKey: key) } }
    var count: Int { state.withLock { $0.count } }
}
