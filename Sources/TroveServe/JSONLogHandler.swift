import Foundation
import Logging
import Synchronization
import TroveContent

/// One JSON object per line: `{"ts":…,"level":…,"label":…,"msg":…, <metadata>…}`, for the access log
/// and the server's own messages. Metadata is stored as given and only rendered when a line is written
/// (setting request metadata on a logger that logs nothing costs almost nothing).
public struct JSONLogHandler: LogHandler {
    public enum Stream: Sendable { case standardOutput, standardError }

    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    public var logLevel: Logger.Level
    let label: String
    let stream: Stream

    public init(label: String, stream: Stream, level: Logger.Level) {
        self.label = label
        self.stream = stream
        self.logLevel = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        LogSink.shared(stream == .standardOutput ? 1 : 2).append(
            render(level: event.level, message: "\(event.message)", metadata: event.metadata, error: event.error.map { "\($0)" }))
    }

    func render(level: Logger.Level, message: String, metadata eventMetadata: Logger.Metadata?, error: String?) -> String {
        var line = "{\"ts\":\""
        line += JSONLogHandler.timestamp()
        line += "\",\"level\":\"\(level.rawValue)\",\"label\":"
        JSONLogHandler.quote(label, into: &line)
        line += ",\"msg\":"
        JSONLogHandler.quote(message, into: &line)
        var all = metadata
        if let p = metadataProvider?.get() { all.merge(p) { a, _ in a } }
        if let m = eventMetadata { all.merge(m) { _, b in b } }
        if let error { all["error"] = "\(error)" }
        for key in all.keys.sorted() {
            line += ","
            JSONLogHandler.quote(key, into: &line)
            line += ":"
            JSONLogHandler.quote("\(all[key]!)", into: &line)
        }
        line += "}\n"
        return line
    }

    /// Whether `log` would write exactly `accessLine`'s bytes for an info message with only event metadata.
    var writesPlainLines: Bool { metadata.isEmpty && metadataProvider == nil && logLevel <= .info }

    /// One access log line, byte for byte what `log` writes for `info("request", metadata: …)` with these
    /// keys, without building a metadata dictionary and sorting its keys (the keys are given sorted).
    /// The line is formatted straight into the sink's buffer: no string is built per request.
    func accessLine(bytes: Int, cache: String, encoding: String, method: String, path: String, status: Int, us: Int64) {
        LogSink.shared(stream == .standardOutput ? 1 : 2).append { out in
            writeAccess(into: &out, bytes: bytes, cache: cache, encoding: encoding, method: method, path: path, status: status, us: us)
        }
    }

    func accessText(bytes: Int, cache: String, encoding: String, method: String, path: String, status: Int, us: Int64) -> String {
        var out: [UInt8] = []
        writeAccess(into: &out, bytes: bytes, cache: cache, encoding: encoding, method: method, path: path, status: status, us: us)
        return String(decoding: out, as: UTF8.self)
    }

    private func writeAccess(into out: inout [UInt8], bytes: Int, cache: String, encoding: String, method: String, path: String,
                             status: Int, us: Int64) {
        out.appendASCII("{\"ts\":\"")
        JSONLogHandler.writeTimestamp(into: &out)
        out.appendASCII("\",\"level\":\"info\",\"label\":")
        JSONLogHandler.quote(label, into: &out)
        out.appendASCII(",\"msg\":\"request\",\"bytes\":\"")
        out.appendDecimal(Int64(bytes))
        out.appendASCII("\",\"cache\":")
        JSONLogHandler.quote(cache, into: &out)
        out.appendASCII(",\"encoding\":")
        JSONLogHandler.quote(encoding, into: &out)
        out.appendASCII(",\"method\":")
        JSONLogHandler.quote(method, into: &out)
        out.appendASCII(",\"path\":")
        JSONLogHandler.quote(path, into: &out)
        out.appendASCII(",\"status\":\"")
        out.appendDecimal(Int64(status))
        out.appendASCII("\",\"us\":\"")
        out.appendDecimal(us)
        out.appendASCII("\"}\n")
    }

    /// `timestamp()` appended as bytes.
    static func writeTimestamp(into out: inout [UInt8]) {
        var tv = timeval()
        gettimeofday(&tv, nil)
        out.append(contentsOf: secondText(Int(tv.tv_sec)).utf8)
        let ms = Int(tv.tv_usec) / 1000
        out.append(UInt8(ascii: "."))
        out.append(UInt8(48 + ms / 100))
        out.append(UInt8(48 + ms / 10 % 10))
        out.append(UInt8(48 + ms % 10))
        out.append(UInt8(ascii: "Z"))
    }

    /// JSON string literal of `s`, as bytes (the same escapes as the `String` version).
    static func quote(_ s: String, into out: inout [UInt8]) {
        out.append(0x22)
        var s = s
        s.withUTF8 { utf8 in
            if !utf8.contains(where: { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C || $0 == 0x7F }) {
                out.append(contentsOf: utf8)
                return
            }
            let hex: StaticString = "0123456789abcdef"
            for b in utf8 {
                switch b {
                case 0x22: out.appendASCII("\\\"")
                case 0x5C: out.appendASCII("\\\\")
                case 0x0A: out.appendASCII("\\n")
                case 0x0D: out.appendASCII("\\r")
                case 0x09: out.appendASCII("\\t")
                case _ where b < 0x20 || b == 0x7F:
                    out.appendASCII("\\u00")
                    out.append(hex.utf8Start[Int(b >> 4)])
                    out.append(hex.utf8Start[Int(b & 15)])
                default: out.append(b)
                }
            }
        }
        out.append(0x22)
    }

    /// The formatted second of the last timestamp (formatting it is most of a timestamp's cost).
    private static let lastSecond = Mutex<(Int, String)>((-1, ""))

    /// UTC, millisecond precision: 2026-11-29T02:26:41.123Z.
    static func timestamp() -> String {
        var out: [UInt8] = []
        writeTimestamp(into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// `2026-11-29T02:26:41` for `sec`, formatted once per second.
    static func secondText(_ sec: Int) -> String {
        lastSecond.withLock { last in
            if last.0 == sec { return last.1 }
            var t = time_t(sec)
            var parts = tm()
            gmtime_r(&t, &parts)
            var buf = [CChar](repeating: 0, count: 32)
            let n = strftime(&buf, buf.count, "%Y-%m-%dT%H:%M:%S", &parts)
            last = (sec, String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self))
            return last.1
        }
    }

    /// JSON string literal of `s`, appended to a string (the same bytes as the `[UInt8]` version).
    static func quote(_ s: String, into out: inout String) {
        var bytes: [UInt8] = []
        quote(s, into: &bytes)
        out += String(decoding: bytes, as: UTF8.self)
    }
}

/// Buffered, thread-safe output for log lines. Appending is a short critical section on the caller's
/// thread (an event loop, for the access log) and never does I/O: every 64 KiB the buffer is queued and a
/// background thread writes it, and that thread also writes whatever is buffered every 100 ms (and at
/// exit). If the output cannot keep up (more than 16 MiB queued, e.g. a stalled pipe), lines are dropped
/// and the count is reported once writing resumes, rather than stalling requests.
final class LogSink: Sendable {
    let fd: Int32
    private struct State {
        var buffer: [UInt8] = []
        var queued: [[UInt8]] = []
        var queuedBytes = 0
        var dropped = 0
    }
    private let state = Mutex(State())
    /// Held while taking and writing, so batches leave in the order they were appended.
    private let writing = Mutex(())
    static let flushBytes = 64 << 10
    static let maxQueuedBytes = 16 << 20
    private static let sinks: [LogSink] = [LogSink(fd: 1), LogSink(fd: 2)]
    private static let wake = DispatchSemaphore(value: 0)

    static func shared(_ fd: Int32) -> LogSink {
        let s = sinks[fd == 1 ? 0 : 1]
        _ = flusher
        return s
    }

    /// One background thread writes both sinks: when a buffer fills up, and every 100 ms.
    private static let flusher: Void = {
        let t = Thread {
            while true {
                _ = wake.wait(timeout: .now() + .milliseconds(100))
                for s in sinks { s.flush() }
            }
        }
        t.name = "trove-log-flush"
        t.start()
        atexit { for s in LogSink.sinks { s.flush() } }
    }()

    /// A sink of its own (tests); servers use `shared`, whose sinks the flusher thread writes.
    init(fd: Int32) { self.fd = fd }

    func append(_ line: String) {
        append { $0.append(contentsOf: line.utf8) }
    }

    /// Appends what `format` writes (a whole line), under the lock.
    func append(_ format: (inout [UInt8]) -> Void) {
        let full = state.withLock { s -> Bool in
            let mark = s.buffer.count
            format(&s.buffer)
            guard s.buffer.count >= LogSink.flushBytes else { return false }
            if s.queuedBytes + s.buffer.count > LogSink.maxQueuedBytes {
                s.buffer.removeSubrange(mark...)
                s.dropped += 1
                return true
            }
            s.queuedBytes += s.buffer.count
            s.queued.append(s.buffer)
            s.buffer = []
            s.buffer.reserveCapacity(LogSink.flushBytes + 1024)
            return true
        }
        if full { LogSink.wake.signal() }
    }

    /// Writes everything appended so far (on the flusher thread, at exit, and in tests).
    func flush() {
        writing.withLock { _ in
            let (batches, dropped) = state.withLock { s -> ([[UInt8]], Int) in
                var out = s.queued
                if !s.buffer.isEmpty { out.append(s.buffer) }
                let d = s.dropped
                s.queued = []
                s.queuedBytes = 0
                s.buffer.removeAll(keepingCapacity: true)
                s.dropped = 0
                return (out, d)
            }
            for b in batches { write(b) }
            if dropped > 0 {
                var line: [UInt8] = []
                line.appendASCII("{\"ts\":\"")
                JSONLogHandler.writeTimestamp(into: &line)
                line.appendASCII("\",\"level\":\"warning\",\"label\":\"trove.log\",\"msg\":\"log output fell behind; lines dropped\",\"dropped\":\"")
                line.appendDecimal(Int64(dropped))
                line.appendASCII("\"}\n")
                write(line)
            }
        }
    }

    private func write(_ bytes: [UInt8]) {
        _ = try? bytes.withUnsafeBytes { b in try FileIO.writeAll(fd, b) }
    }
}

extension [UInt8] {
    mutating func appendASCII(_ s: StaticString) {
        append(contentsOf: UnsafeBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
    }

    /// `v` in decimal, without building a string.
    mutating func appendDecimal(_ v: Int64) {
        if v < 0 { append(UInt8(ascii: "-")) }
        var m = v.magnitude
        var digits: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        var n = 0
        Swift.withUnsafeMutableBytes(of: &digits) { d in
            repeat {
                d[n] = UInt8(48 + m % 10)
                m /= 10
                n += 1
            } while m > 0
            for k in stride(from: n - 1, through: 0, by: -1) { append(d[k]) }
        }
    }
}
