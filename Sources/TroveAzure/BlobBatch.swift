import Foundation
import TroveHTTP

/// The `multipart/mixed` body of an Azure Blob Batch request and the parsing of its answer.
enum BlobBatch {
    struct SubRequest {
        var method: String
        /// Path (and query) as it would be sent on its own.
        var target: String
        var headers: [(name: String, value: String)]
    }

    struct SubResult {
        var status: Int
        var error: AzureErrorBody?
    }

    /// One part per sub-request, `Content-ID` numbering them in order; CRLF line ends.
    static func body(_ requests: [SubRequest], boundary: String) -> [UInt8] {
        var s = ""
        for (i, r) in requests.enumerated() {
            s += "--\(boundary)\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: \(i)\r\n\r\n"
            s += "\(r.method) \(r.target) HTTP/1.1\r\n"
            for (n, v) in r.headers { s += "\(n): \(v)\r\n" }
            s += "\r\n"
        }
        s += "--\(boundary)--\r\n"
        return Array(s.utf8)
    }

    /// The sub-results in `Content-ID` order, or nil when the answer is not a readable batch response.
    static func parseResponse(_ r: HTTPResponse) -> [SubResult]? {
        guard let type = r.header("Content-Type"), let b = type.range(of: "boundary=") else { return nil }
        let boundary = String(type[b.upperBound...].prefix { $0 != ";" }).trimmingCharacters(in: CharacterSet(charactersIn: "\" "))
        let text = String(decoding: r.body, as: UTF8.self)
        var results: [(id: Int, result: SubResult)] = []
        for part in text.components(separatedBy: "--\(boundary)").dropFirst() {
            if part.hasPrefix("--") { break }
            let normalized = part.replacingOccurrences(of: "\r\n", with: "\n")
            // Part headers, blank line, then the embedded HTTP response: status line, headers, blank line, body.
            guard let split = normalized.range(of: "\n\n") else { return nil }
            let partHeaders = normalized[..<split.lowerBound]
            let embedded = normalized[split.upperBound...]
            let id = partHeaders.split(separator: "\n").first { $0.lowercased().hasPrefix("content-id:") }
                .flatMap { Int($0.dropFirst("content-id:".count).trimmingCharacters(in: .whitespaces)) } ?? results.count
            let lines = embedded.split(separator: "\n", omittingEmptySubsequences: false)
            guard let statusLine = lines.first, statusLine.hasPrefix("HTTP/"),
                  let status = statusLine.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else { return nil }
            var code: String? = nil
            var bodyStart = lines.count
            for (i, line) in lines.enumerated().dropFirst() {
                if line.isEmpty { bodyStart = i + 1; break }
                if line.lowercased().hasPrefix("x-ms-error-code:") { code = line.dropFirst("x-ms-error-code:".count).trimmingCharacters(in: .whitespaces) }
            }
            let body = bodyStart < lines.count ? Array(lines[bodyStart...].joined(separator: "\n").utf8) : []
            results.append((id, SubResult(status: status, error: AzureErrorBody(headerCode: code, body: body))))
        }
        return results.sorted { $0.id < $1.id }.map(\.result)
    }
}
