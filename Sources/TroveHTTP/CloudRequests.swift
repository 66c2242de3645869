import Foundation
import Logging
import TroveStorage

/// What every cloud backend does around a signed request, in one place: send it through the shared
/// client, log it at debug level without secrets (method, path without query, status, bytes, time),
/// and turn a request that got no answer into a `BlobStoreError` (every network fault is transient).
public enum CloudRequests {
    /// Sends `request`; `service` ("s3", "azure") and `path` (no query: SAS tokens live there) are for the log.
    public static func send(_ request: HTTPRequest, client: CurlHTTPClient, logger: Logger, service: String,
                            path: String) async throws -> HTTPResponse {
        let clock = ContinuousClock()
        let start = clock.now
        do {
            let response = try await client.send(request)
            let elapsed = clock.now - start
            logger.debug("\(service) request", metadata: [
                "method": "\(request.method)", "path": "\(path)", "status": "\(response.status)",
                "bytes": "\(request.body.count + response.body.count)",
                "ms": "\(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)",
            ])
            return response
        } catch let error as HTTPClientError {
            logger.debug("\(service) request failed", metadata: ["method": "\(request.method)", "path": "\(path)", "error": "\(error)"])
            throw map(error)
        }
    }

    /// Maps a request that got no response at all. Every network fault is transient.
    public static func map(_ error: HTTPClientError) -> BlobStoreError {
        error.isTransient ? .transient(error.description) : .permanent(error.description)
    }

    /// A server's message flattened to one line of at most 300 characters.
    public static func oneLine(_ s: String) -> String {
        let flat = s.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ")
        return flat.count > 300 ? String(flat.prefix(300)) + "…" : flat
    }

    /// An ISO 8601 timestamp as in S3 listings (`2026-01-02T03:04:05.000Z`).
    public static func isoDate(_ s: String) -> Date? {
        (try? Date(s, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true))) ?? (try? Date(s, strategy: .iso8601))
    }

    /// An RFC 1123 date as in `Last-Modified` headers and Azure listings (`Sun, 06 Nov 1994 08:49:37 GMT`).
    public static func httpDate(_ s: String) -> Date? {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "GMT")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        return f.date(from: s)
    }

    /// The current time as an RFC 1123 date (`x-ms-date`, `Date`).
    public static func httpDateString(_ date: Date = Date()) -> String {
        var t = time_t(date.timeIntervalSince1970.rounded(.down))
        var tm = tm()
        gmtime_r(&t, &tm)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        let time = String(format: "%02d %04d %02d:%02d:%02d", Int(tm.tm_mday), Int(tm.tm_year) + 1900, Int(tm.tm_hour), Int(tm.tm_min), Int(tm.tm_sec))
        let parts = time.split(separator: " ", maxSplits: 1)
        return "\(days[Int(tm.tm_wday)]), \(parts[0]) \(months[Int(tm.tm_mon)]) \(parts[1]) GMT"
    }
}
