import CSQLite
import TroveContent
import Foundation

/// A minimal, typed wrapper over one SQLite connection. Not thread-safe: one connection per owner.
public final class SQLiteDatabase {
    let handle: OpaquePointer
    public let path: String

    public enum Mode { case readOnly, readWriteCreate }

    /// Process-wide set-up before the first connection: no memory statistics (a global mutex and two
    /// counters on every SQLite allocation, ~4% of writing a manifest through SQLite, as Trove once did).
    /// Nothing in Trove reads them.
    private static let configured: Void = { _ = trove_sqlite3_disable_memstatus() }()

    public init(path: String, mode: Mode) throws {
        _ = SQLiteDatabase.configured
        var h: OpaquePointer?
        let flags = (mode == .readOnly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)) | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &h, flags, nil)
        guard rc == SQLITE_OK, let h else {
            let msg = h.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            if let h { sqlite3_close_v2(h) }
            throw SQLiteError(message: "cannot open \(path): \(msg)")
        }
        handle = h
        self.path = path
    }

    deinit { sqlite3_close_v2(handle) }

    /// Runs one or more statements without results.
    public func execute(_ sql: String) throws {
        var err: UnsafeMutablePointer<CChar>?
        if sqlite3_exec(handle, sql, nil, nil, &err) != SQLITE_OK {
            let m = err.map { String(cString: $0) } ?? "unknown error"
            sqlite3_free(err)
            throw SQLiteError(message: "\(m) (in \(sql.prefix(80)))")
        }
    }

    public func prepare(_ sql: String) throws -> SQLiteStatement {
        var stmt: OpaquePointer?
        guard sqlite3_prepare_v2(handle, sql, -1, &stmt, nil) == SQLITE_OK, let stmt else {
            throw SQLiteError(message: "\(String(cString: sqlite3_errmsg(handle))) (in \(sql.prefix(80)))")
        }
        return SQLiteStatement(stmt, db: self)
    }

    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN IMMEDIATE")
        do {
            let r = try body()
            try execute("COMMIT")
            return r
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }

    var lastError: String { String(cString: sqlite3_errmsg(handle)) }
}

/// A prepared statement with positional binding (1-based) and column reads (0-based).
public final class SQLiteStatement {
    let stmt: OpaquePointer
    unowned let db: SQLiteDatabase

    init(_ stmt: OpaquePointer, db: SQLiteDatabase) {
        self.stmt = stmt
        self.db = db
    }

    deinit { sqlite3_finalize(stmt) }

    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    public func bind(_ i: Int32, _ v: Int) { sqlite3_bind_int64(stmt, i, sqlite3_int64(v)) }
    public func bind(_ i: Int32, _ v: String) { sqlite3_bind_text(stmt, i, v, -1, SQLiteStatement.transient) }
    public func bind(_ i: Int32, _ v: String?) { if let v { bind(i, v) } else { sqlite3_bind_null(stmt, i) } }
    public func bind(_ i: Int32, _ v: Int?) { if let v { bind(i, v) } else { sqlite3_bind_null(stmt, i) } }
    public func bind(_ i: Int32, _ d: Digest) {
        _ = d.withBytes { sqlite3_bind_blob(stmt, i, $0.baseAddress, 32, SQLiteStatement.transient) }
    }
    public func bind(_ i: Int32, _ d: Digest?) { if let d { bind(i, d) } else { sqlite3_bind_null(stmt, i) } }

    /// Steps once; true when a row is available.
    @discardableResult
    public func step() throws -> Bool {
        let rc = sqlite3_step(stmt)
        if rc == SQLITE_ROW { return true }
        if rc == SQLITE_DONE { return false }
        throw SQLiteError(message: db.lastError)
    }

    /// Steps to completion and resets, for inserts.
    public func run() throws {
        defer { reset() }
        while try step() {}
    }

    /// Steps an insert to completion and resets it, keeping its bindings (cheaper than `run` when
    /// every parameter is bound again before the next call, as the manifest writer does).
    public func insert() throws {
        let rc = sqlite3_step(stmt)
        if rc != SQLITE_DONE && rc != SQLITE_ROW {
            let message = db.lastError
            sqlite3_reset(stmt)
            throw SQLiteError(message: message)
        }
        sqlite3_reset(stmt)
    }

    public func reset() {
        sqlite3_reset(stmt)
        sqlite3_clear_bindings(stmt)
    }

    public func int(_ col: Int32) -> Int { Int(sqlite3_column_int64(stmt, col)) }
    public func isNull(_ col: Int32) -> Bool { sqlite3_column_type(stmt, col) == SQLITE_NULL }
    public func optionalInt(_ col: Int32) -> Int? { isNull(col) ? nil : int(col) }
    public func string(_ col: Int32) -> String {
        guard let p = sqlite3_column_text(stmt, col) else { return "" }
        return String(cString: p)
    }
    public func optionalString(_ col: Int32) -> String? { isNull(col) ? nil : string(col) }
    /// A text column read by its byte count (not up to the first NUL, as `string` does), refusing an
    /// embedded NUL: for values read from untrusted files, where "a\0b" must not pass as "a".
    public func exactString(_ col: Int32) throws -> String {
        let n = Int(sqlite3_column_bytes(stmt, col))
        guard let p = sqlite3_column_text(stmt, col) else { return "" }
        let bytes = UnsafeBufferPointer(start: p, count: n)
        guard !bytes.contains(0) else { throw SQLiteError(message: "column \(col) holds a NUL byte") }
        return String(decoding: bytes, as: UTF8.self)
    }
    public func optionalExactString(_ col: Int32) throws -> String? { isNull(col) ? nil : try exactString(col) }
    public func digest(_ col: Int32) throws -> Digest {
        guard sqlite3_column_bytes(stmt, col) == 32, let p = sqlite3_column_blob(stmt, col) else {
            throw SQLiteError(message: "column \(col) is not a 32-byte digest")
        }
        return Digest(bytes: UnsafeRawBufferPointer(start: p, count: 32))
    }
    public func optionalDigest(_ col: Int32) throws -> Digest? { isNull(col) ? nil : try digest(col) }
}

public struct SQLiteError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { "sqlite: \(message)" }
}
