import Foundation
import TroveHTTP
import TroveStorage

/// An S3 `<Error>` document's fields.
public struct S3ErrorBody: Sendable, Equatable {
    public var code: String
    public var message: String
    /// Other fields that help explain the error (`Region`, `BucketName`, `Endpoint`...).
    public var extra: [String: String]

    /// Parses `<Error><Code>…</Code><Message>…</Message>…</Error>`; nil when the body is not one.
    public init?(xml: [UInt8]) {
        guard !xml.isEmpty, let doc = CloudXML.parse(xml), doc.name == "Error" else { return nil }
        var fields: [String: String] = [:]
        for c in doc.children { fields[c.name] = c.text }
        code = fields.removeValue(forKey: "Code") ?? ""
        message = fields.removeValue(forKey: "Message") ?? ""
        extra = fields
    }

    public init(code: String, message: String = "", extra: [String: String] = [:]) {
        self.code = code
        self.message = message
        self.extra = extra
    }
}

/// Turns S3 responses and transport failures into `BlobStoreError`s: throttling, 5xx and network
/// faults are `.transient` (the retry decorator retries them); credential, bucket and clock problems
/// are `.permanent` with a one-line explanation that names the bucket and endpoint but no secret.
public enum S3ErrorMapping {
    /// Maps an unsuccessful response of `operation` ("get", "put", ...) on `key` (nil for bucket-level calls).
    public static func map(status: Int, body: [UInt8], operation: String, key: ObjectKey?, range: ByteRange? = nil,
                           configuration c: S3Configuration) -> BlobStoreError {
        map(status: status, error: S3ErrorBody(xml: body), operation: operation, key: key, range: range, configuration: c)
    }

    /// Maps a parsed error (or none, for bodiless responses such as HEAD's).
    public static func map(status: Int, error err: S3ErrorBody?, operation: String, key: ObjectKey?, range: ByteRange? = nil,
                           configuration c: S3Configuration) -> BlobStoreError {
        let code = err?.code ?? ""
        let target = key.map { "\(operation) \($0)" } ?? operation
        let whereText = "\(c.description)"
        let serverSays = err.map { $0.message.isEmpty ? " (\($0.code))" : " (\($0.code): \(oneLine($0.message)))" } ?? " (HTTP \(status))"

        switch code {
        case "NoSuchKey":
            if let key { return .notFound(key) }
        case "PreconditionFailed", "ConditionalRequestConflict":
            if let key { return .preconditionFailed(key) }
        case "InvalidRange":
            if let key, let range { return .invalidRange(key, range) }
        case "SignatureDoesNotMatch":
            return .permanent("S3 at \(c.origin) rejected the request signature for bucket \(c.bucket): wrong secret access key for access key id \(c.credentials.accessKeyId) (SignatureDoesNotMatch)")
        case "InvalidAccessKeyId":
            return .permanent("S3 at \(c.origin) does not know access key id \(c.credentials.accessKeyId) (InvalidAccessKeyId): check AWS_ACCESS_KEY_ID or s3.access_key_id for bucket \(c.bucket)")
        case "InvalidToken", "ExpiredToken", "TokenRefreshRequired":
            return .permanent("S3 at \(c.origin) rejected the session token for access key id \(c.credentials.accessKeyId) (\(code)): refresh AWS_SESSION_TOKEN or s3.session_token")
        case "RequestTimeTooSkewed":
            return .permanent("the local clock differs too much from the clock of S3 at \(c.origin) (RequestTimeTooSkewed): correct the system time (bucket \(c.bucket))")
        case "NoSuchBucket":
            return .permanent("bucket \(c.bucket) does not exist at \(c.origin) (NoSuchBucket)")
        case "AccessDenied", "AllAccessDisabled", "AccountProblem":
            return .permanent("access denied: \(target) in \(whereText)\(serverSays); check the policy of access key id \(c.credentials.accessKeyId)")
        case "PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException":
            let region = err?.extra["Region"].map { " it is in region \($0)," } ?? ""
            return .permanent("bucket \(c.bucket) is not in region \(c.region) at \(c.origin):\(region) set region= or s3.region (\(code))")
        case "SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable", "OperationAborted", "BadDigest",
             "XAmzContentSHA256Mismatch", "RequestTimeTooSkewedRetry", "ThrottlingException", "Throttling", "TooManyRequests":
            return .transient("S3 \(target) failed at \(c.origin), will retry\(serverSays)")
        default:
            break
        }
        switch status {
        case 404 where key != nil && code.isEmpty: return .notFound(key!)
        case 412: if let key { return .preconditionFailed(key) }
        case 409 where operation == "put" && key != nil && code.isEmpty: return .preconditionFailed(key!)
        case 416: if let key, let range { return .invalidRange(key, range) }
        case 429, 500...599: return .transient("S3 \(target) failed at \(c.origin)\(serverSays)")
        case 403 where code.isEmpty:
            return .permanent("access denied: \(target) in \(whereText) (HTTP 403); check the credentials and policy of access key id \(c.credentials.accessKeyId)")
        case 301, 307:
            return .permanent("bucket \(c.bucket) is not reachable at \(c.origin) with region \(c.region) (HTTP \(status) redirect): set region= or s3.region")
        default: break
        }
        return .permanent("S3 \(target) failed in \(whereText)\(serverSays)")
    }

    static func oneLine(_ s: String) -> String { CloudRequests.oneLine(s) }
}
