import Foundation
import TroveHTTP
import TroveStorage

/// What an Azure error answer says: the code (from `x-ms-error-code`, or the `<Error><Code>` body, which
/// HEAD answers lack), the message's first line and, for authentication failures, the detail.
public struct AzureErrorBody: Sendable, Equatable {
    public var code: String
    public var message: String
    public var detail: String

    public init(code: String, message: String = "", detail: String = "") {
        self.code = code
        self.message = message
        self.detail = detail
    }

    /// Reads the code from the header or the body; nil when the response carries neither.
    public init?(headerCode: String?, body: [UInt8]) {
        let doc = body.isEmpty ? nil : CloudXML.parse(body).flatMap { $0.name == "Error" ? $0 : nil }
        let code = headerCode.flatMap { $0.isEmpty ? nil : $0 } ?? doc?["Code"]
        guard let code, !code.isEmpty else { return nil }
        self.code = code
        // Azure appends "RequestId:…" and "Time:…" lines to every message: keep the first line.
        message = (doc?["Message"] ?? "").split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
        detail = doc?["AuthenticationErrorDetail"] ?? ""
    }

    init?(_ r: HTTPResponse) { self.init(headerCode: r.header("x-ms-error-code"), body: r.body) }
}

/// Turns Azure answers into `BlobStoreError`s: `ServerBusy`, `InternalError`, `OperationTimedOut`, other
/// 5xx and 429 are `.transient` (the retry decorator retries them); keys, SAS permissions, a missing
/// container and clock skew are `.permanent`, one line naming the container and endpoint, never a secret.
public enum AzureErrorMapping {
    public static func map(status: Int, error err: AzureErrorBody?, operation: String, key: ObjectKey?, range: ByteRange? = nil,
                           configuration c: AzureConfiguration) -> BlobStoreError {
        let code = err?.code ?? ""
        let target = key.map { "\(operation) \($0)" } ?? operation
        let endpoint = c.endpoint.absoluteString
        var serverSays = " (HTTP \(status))"
        if let err { serverSays = err.message.isEmpty ? " (\(err.code))" : " (\(err.code): \(CloudRequests.oneLine(err.message)))" }

        switch code {
        case "BlobNotFound":
            if let key { return .notFound(key) }
        case "ConditionNotMet", "BlobAlreadyExists", "TargetConditionNotMet":
            if let key { return .preconditionFailed(key) }
        case "InvalidRange":
            if let key, let range { return .invalidRange(key, range) }
        case "ContainerNotFound":
            return .permanent("container \(c.container) does not exist in account \(c.account) at \(endpoint) (ContainerNotFound)")
        case "AuthenticationFailed":
            let detail = err?.detail.lowercased() ?? ""
            if detail.contains("request date header") || detail.contains("date header too") {
                return .permanent("the local clock differs too much from the clock of Azure at \(endpoint) (AuthenticationFailed: request date out of range): correct the system time (account \(c.account))")
            }
            switch c.credentials {
            case .sharedKey:
                return .permanent("Azure at \(endpoint) rejected the request signature for account \(c.account): wrong account key (AuthenticationFailed); check AZURE_STORAGE_KEY, the connection string or azure.account_key")
            case .sas:
                if detail.contains("time frame") || detail.contains("expir") {
                    return .permanent("the SAS token for azure://\(c.container) at \(endpoint) has expired or is not valid yet (AuthenticationFailed); issue a new one")
                }
                return .permanent("Azure at \(endpoint) rejected the SAS token for account \(c.account) (AuthenticationFailed): it was not signed for azure://\(c.container) or was altered; issue a new one")
            }
        case "AuthorizationPermissionMismatch", "AuthorizationFailure", "AuthorizationResourceTypeMismatch",
             "AuthorizationServiceMismatch", "AuthorizationProtocolMismatch", "AuthorizationSourceIPMismatch":
            let why = c.credentials.kind == "SAS" ? "the SAS token lacks a permission this command needs (docs/azure.md lists them per role)" : "the account key may not do this"
            return .permanent("access denied: \(target) in \(c.description) (\(code)): \(why)")
        case "InvalidAuthenticationInfo", "NoAuthenticationInformation":
            return .permanent("Azure at \(endpoint) did not accept the credentials for account \(c.account)\(serverSays)")
        case "ServerBusy", "InternalError", "OperationTimedOut", "Md5Mismatch", "ContentMD5Mismatch":
            return .transient("Azure \(target) failed at \(endpoint), will retry\(serverSays)")
        default:
            break
        }
        switch status {
        case 404 where key != nil && code.isEmpty: return .notFound(key!)
        case 412: if let key { return .preconditionFailed(key) }
        case 416: if let key, let range { return .invalidRange(key, range) }
        case 408, 429, 500...599: return .transient("Azure \(target) failed at \(endpoint)\(serverSays)")
        case 403: return .permanent("access denied: \(target) in \(c.description)\(serverSays)")
        default: break
        }
        return .permanent("Azure \(target) failed in \(c.description)\(serverSays)")
    }

    /// Maps an unsuccessful response.
    public static func map(_ r: HTTPResponse, operation: String, key: ObjectKey?, range: ByteRange? = nil,
                           configuration c: AzureConfiguration) -> BlobStoreError {
        map(status: r.status, error: AzureErrorBody(r), operation: operation, key: key, range: range, configuration: c)
    }
}
