import Foundation
import Synchronization
import TroveStorage

/// The behaviour every `BlobStore` backend must show. Test targets run `BlobStoreConformance.run`
/// against each backend (memory, local, S3 on a real S3-protocol server, and decorated stacks).
/// Every check runs, and every failed expectation in it is recorded; `run` then throws one
/// `ConformanceFailure` naming all of them (check and expectation), so no test framework is needed here
/// and one broken behaviour does not hide the next.
public enum BlobStoreConformance {
    public static let checks: [(String, @Sendable (any BlobStore, String, Expectations) async throws -> Void)] = [
        ("put then get round-trips bytes", putGet),
        ("empty objects", emptyObject),
        ("get of a missing key is notFound", missing),
        ("byte ranges", ranges),
        ("head reports size and etag", head),
        ("list by prefix, in order, with pagination", list),
        ("delete is idempotent and batched", delete),
        ("conditional writes", conditional),
        ("concurrent conditional writers: exactly one wins", concurrentConditional),
        ("overwrite replaces the whole object", overwrite),
    ]

    /// Runs every check under a fresh `prefix` (so a shared bucket can host several runs); throws when
    /// any expectation failed, naming each one.
    public static func run(_ store: any BlobStore, prefix: String = "conformance-\(UInt32.random(in: 0...UInt32.max))") async throws {
        var failures: [String] = []
        for (name, check) in checks {
            let expectations = Expectations()
            do { try await check(store, prefix, expectations) }
            catch let f as ConformanceFailure { expectations.record(f.message) }
            catch { expectations.record("unexpected error \(error)") }
            failures += expectations.failures.map { "\(name): \($0)" }
        }
        if !failures.isEmpty { throw ConformanceFailure(failures.joined(separator: "\n")) }
    }

    static func key(_ p: String, _ s: String) -> ObjectKey { try! ObjectKey("\(p)/\(s)") }

    static func putGet(_ s: any BlobStore, _ p: String, _ e: Expectations) async throws {
        var bytes = [UInt8](repeating: 0, count: 3 << 20)
        for i in bytes.indices { bytes[i] = UInt8(truncatingIfNeeded: i &* 2654435761 >> 13) }
        try await s.put(key(p, "a/b/big"), bytes)
        e.check(try await s.get(key(p, "a/b/big")) == bytes, "3 MiB object read back differs")
        let binary: [UInt8] = Array(0...255)
        try await s.put(key(p, "bin"), binary)
        e.check(try await s.get(key(p, "bin")) == binary, "all byte values")
    }

    static func emptyObject(_ s: any BlobStore, _ p: String, _ e: Expectations) async throws {
        try await s.put(key(p, "empty"), [])
        e.check(try await s.get(key(p, "empty")) == [], "empty object read back non-empty")
        e.check(try await s.head(key(p, "empty"))?.size == 0, "empty object size")
    }

    static func missing(_ s: any BlobStore, _ p: String, _ e: Expectations) async throws {
        do {
            _ = try await s.get(key(p, "nope"))
            throw ConformanceFailure("get of missing key returned data")
        } catch BlobStoreError.notFound(let k) {
            e.check(k == key(p, "nope"), "notFound names the key")
        }
        e.check(try await s.head(key(p, "nope")) == nil, "head of missing key is nil")
    }

    static func ranges(_ s: any BlobStore, _ p: String, _ e: Expectations) async throws {
        let bytes = Array((0..<1000).map { UInt8($0 % 251) })
        try await s.put(key(p, "r"), bytes)
        e.check(try await s.get(key(p, "r"), range: ByteRange(offset: 10, length: 5)) == Array(bytes[10..<15]), "middle range")
        e.check(try await s.get(key(p, "r"), range: ByteRange(offset: 990, length: 100)) == Array(bytes[990...]), "range past end is clipped")
        e.check(try await s.get(key(p, "r"), range: ByteRange(offset: 500, length: nil)) == Array(bytes[500...]), "open range")
        e.check(try await s.get(key(p, "r"), range: ByteRange(offset: 0, length: 1)) == [bytes[0]], "first byte")
        do {
            _ = try await s.get(key(p, "r"), range: ByteRange(offset: 1000, length: 10))
            throw ConformanceFailure("range starting at the end did not fail")
        } catch BlobStoreError.invalidRange {}
    }

    static func head(_ s: any BlobStore, _ p: String, _ e: Expectations) async throws {
        let tag = try await s.put(key(p, "h"), [1, 2, 3])
        let info = try await s.head(key(p, "h"))
        e.check(info?.size == 3, "size")
        e.check(info?.etag == tag, "head etag \(info?.etag ?? "nil") == put etag \(tag)")
        let tag2 = try await s.put(key(p, "h"), [1, 2, 3, 4])
        e.check(tag2 != tag, "etag changes when the object changes")
    }

    static func list(_ s: any BlobStore, _ p: String, _ e: Expectations) async throws {
        let names = (0..<1205).map { String(format: "l/%05d", $0) }
        try await withThrowingTaskGroup(of: Void.self) { g in
            for chunk in stride(from: 0, to: names.count, by: 100) {
                g.addTask { for n in names[chunk..<min(chunk + 100, names.count)] { try await s.put(key(p, n), [1]) } }
            }
            try await g.waitForAll()
        }
        try await s.put(key(p, "lx/other"), [1])
        let all = try await s.listAll(prefix: "\(p)/l/")
        e.check(all.map(\.key.rawValue) == names.map { "\(p)/\($0)" }, "listing of 1205 keys (got \(all.count)) in order")
        e.check(all.allSatisfy { $0.size == 1 }, "sizes in listing")
        let partial = try await s.listAll(prefix: "\(p)/l/0119")
        e.check(partial.count == 10, "prefix ending mid-name (got \(partial.count))")
        e.check(try await s.listAll(prefix: "\(p)/zz/").isEmpty, "empty listing")
        try await s.delete(names.map { key(p, $0) })
        e.check(try await s.listAll(prefix: "\(p)/l/").isEmpty, "listing after deleting all")
    }

    static func delete(_ s: any BlobStore, _ p: String, _ e: Expectations) async throws {
        try await s.put(key(p, "d1"), [1])
        try await s.put(key(p, "d2"), [2])
        try await s.delete([key(p, "d1"), key(p, "d2"), key(p, "never-existed")])
        let h1 = try await s.head(key(p, "d1")), h2 = try await s.head(key(p, "d2"))
        e.check(h1 == nil && h2 == nil, "deleted")
        try await s.delete([key(p, "d1")])
    }

    static func conditional(_ s: any BlobStore, _ p: String, _ e: Expectations) async throws {
        let k = key(p, "ref")
        let t1 = try await s.put(k, Array("v1".utf8), condition: .ifAbsent)
        do {
            try await s.put(k, Array("v1b".utf8), condition: .ifAbsent)
            throw ConformanceFailure("ifAbsent overwrote an existing object")
        } catch BlobStoreError.preconditionFailed {}
        let t2 = try await s.put(k, Array("v2".utf8), condition: .ifMatch(t1))
        do {
            try await s.put(k, Array("v3".utf8), condition: .ifMatch(t1))
            throw ConformanceFailure("ifMatch with a stale etag succeeded")
        } catch BlobStoreError.preconditionFailed {}
        e.check(try await s.get(k) == Array("v2".utf8), "content after conditional writes")
        e.check(try await s.head(k)?.etag == t2, "etag after conditional writes")
        // One read carries the compare-and-swap token: what refs are read and switched with.
        let read = try await s.read(k, range: nil)
        e.check(read.bytes == Array("v2".utf8) && read.etag == t2, "read returns the bytes with their etag (\(read.etag) vs \(t2))")
        let t3 = try await s.put(k, Array("v3".utf8), condition: .ifMatch(read.etag))
        do {
            try await s.put(k, Array("v4".utf8), condition: .ifMatch(read.etag))
            throw ConformanceFailure("ifMatch with the etag of a replaced read succeeded")
        } catch BlobStoreError.preconditionFailed {}
        e.check(try await s.read(k, range: ByteRange(offset: 1, length: 1)).etag == t3, "ranged read carries the etag too")
        e.check(try await s.readIfPresent(key(p, "no-such-ref")) == nil, "readIfPresent of a missing key is nil")
    }

    static func concurrentConditional(_ s: any BlobStore, _ p: String, _ e: Expectations) async throws {
        let k = key(p, "race")
        let base = try await s.put(k, [0])
        let wins = try await withThrowingTaskGroup(of: Bool.self) { g in
            for i in 1...8 {
                g.addTask {
                    do { try await s.put(k, [UInt8(i)], condition: .ifMatch(base)); return true }
                    catch BlobStoreError.preconditionFailed { return false }
                }
            }
            return try await g.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        e.check(wins == 1, "\(wins) of 8 racing ifMatch writers won")
    }

    static func overwrite(_ s: any BlobStore, _ p: String, _ e: Expectations) async throws {
        try await s.put(key(p, "o"), [UInt8](repeating: 7, count: 5000))
        try await s.put(key(p, "o"), [1, 2])
        e.check(try await s.get(key(p, "o")) == [1, 2], "overwrite")
    }
}

/// The failed expectations of one check, in order; a check goes on after one fails.
public final class Expectations: Sendable {
    private let log = Mutex<[String]>([])

    var failures: [String] { log.withLock { $0 } }

    func record(_ message: String) { log.withLock { $0.append(message) } }

    /// Records `message` when `ok` is false.
    func check(_ ok: Bool, _ message: @autoclosure () -> String) {
        if !ok { record(message()) }
    }
}

public struct ConformanceFailure: Error, CustomStringConvertible {
    public let message: String
    public init(_ m: String) { message = m }
    public var description: String { message }
}
