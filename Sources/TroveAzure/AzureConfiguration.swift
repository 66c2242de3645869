import Foundation
import TroveHTTP
import TroveStorage

/// How requests to Azure Blob Storage are authorised. `description` never shows the key or the SAS.
public enum AzureCredentials: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// Shared Key: the storage account's access key (decoded from base64), signs every request.
    case sharedKey(accountKey: [UInt8])
    /// A shared access signature: its query parameters (no leading `?`) are appended to every request.
    case sas(String)

    public var description: String {
        switch self {
        case .sharedKey: "AzureCredentials.sharedKey(<redacted>)"
        case .sas: "AzureCredentials.sas(<redacted>)"
        }
    }
    public var debugDescription: String { description }

    /// Which kind, for messages: "Shared Key" or "SAS".
    public var kind: String {
        switch self {
        case .sharedKey: "Shared Key"
        case .sas: "SAS"
        }
    }
}

/// Everything `AzureBlobStore` needs to reach a container, parsed from an
/// `azure://CONTAINER/PREFIX?account=…&endpoint=…` URL, `StoreSettings` (`azure.*` keys) and the
/// environment variables Azure's own tools read.
///
/// Precedence for options: URL query, then settings, then environment, then defaults (as for `s3://`,
/// through the same `StoreOptions`). Credentials come from the environment first
/// (`AZURE_STORAGE_CONNECTION_STRING`, then `AZURE_STORAGE_KEY`, then `AZURE_STORAGE_SAS_TOKEN`), then
/// from settings (`azure.connection_string`, `azure.account_key`, `azure.sas_token`).
public struct AzureConfiguration: CloudStoreConfiguration, CustomStringConvertible {
    /// The service version every request pins in `x-ms-version` (docs/azure.md). Container-level Blob
    /// Batch needs 2020-04-08 or later.
    public static let serviceVersion = "2021-12-02"
    /// The emulator's well-known account and key (Azurite, `UseDevelopmentStorage=true`); public, not a secret.
    static let developmentAccount = "devstoreaccount1"
    static let developmentKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

    public var container: String
    /// Blob name prefix inside the container, without leading or trailing `/` ("" for the container root).
    public var prefix: String
    public var account: String
    /// The Blob service endpoint, without a trailing slash: `https://ACCOUNT.blob.core.windows.net`, or
    /// path-style `http://127.0.0.1:10000/devstoreaccount1` for emulators.
    public var endpoint: URL
    public var credentials: AzureCredentials
    public var connection: ConnectionOptions

    public init(container: String, prefix: String = "", account: String, endpoint: URL, credentials: AzureCredentials,
                connection: ConnectionOptions = ConnectionOptions(listPageSize: 5000)) {
        self.container = container
        self.prefix = prefix.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        self.account = account
        self.endpoint = endpoint
        self.credentials = credentials
        self.connection = connection
    }

    /// Parses a store URL. `environment` defaults to the process environment (tests pass their own).
    public init(url: URLComponents, settings: StoreSettings = StoreSettings(),
                environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        guard url.scheme?.lowercased() == "azure" else { throw StoreURLError("not an azure:// URL") }
        guard let container = url.host, !container.isEmpty else {
            throw StoreURLError("azure store URL needs a container: azure://CONTAINER/PREFIX?account=...")
        }
        guard Self.validContainer(container) else {
            throw StoreURLError("azure container name \(container.prefix(80)) is invalid: 3-63 lowercase letters, digits and single hyphens, starting with a letter or digit")
        }
        let o = try StoreOptions(scheme: "azure", url: url, known: StoreOptions.connectionOptions.union(["account", "endpoint"]),
                                 settings: settings, environment: environment)
        // Credentials: environment first, then settings, as Azure's tools read them.
        let connectionString = try (o.env("AZURE_STORAGE_CONNECTION_STRING") ?? o.setting("connection_string")).map(ConnectionString.init)
        let envKey = o.env("AZURE_STORAGE_KEY"), envSAS = o.env("AZURE_STORAGE_SAS_TOKEN")

        let account = o.value("account", env: ["AZURE_STORAGE_ACCOUNT"]) ?? connectionString?.accountName
        let endpoint: URL
        if let e = o.value("endpoint") {
            endpoint = try o.endpoint(e)
        } else if let e = connectionString?.blobEndpoint {
            endpoint = try o.endpoint(e)
        } else if let account {
            endpoint = URL(string: "https://\(account).blob.\(connectionString?.endpointSuffix ?? "core.windows.net")")!
        } else {
            throw StoreURLError("azure://\(container) needs a storage account: account=NAME, azure.account or AZURE_STORAGE_ACCOUNT (or an endpoint=URL)")
        }

        let credentials: AzureCredentials
        var keyAccount: String? = nil
        if let cs = connectionString, cs.accountKey != nil || cs.sas != nil {
            credentials = try cs.accountKey.map { .sharedKey(accountKey: try Self.decodeKey($0, source: "the connection string's AccountKey")) } ?? .sas(cs.sas!)
            keyAccount = cs.accountName
        } else if let key = envKey {
            credentials = .sharedKey(accountKey: try Self.decodeKey(key, source: "AZURE_STORAGE_KEY"))
        } else if let sas = envSAS {
            credentials = .sas(Self.trimSAS(sas))
        } else if let key = o.setting("account_key") {
            credentials = .sharedKey(accountKey: try Self.decodeKey(key, source: "azure.account_key"))
        } else if let sas = o.setting("sas_token") {
            credentials = .sas(Self.trimSAS(sas))
        } else {
            throw StoreURLError("no Azure credentials for azure://\(container): set AZURE_STORAGE_CONNECTION_STRING, AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY, or AZURE_STORAGE_SAS_TOKEN, or azure.account_key or azure.sas_token in the config file (Entra ID tokens are not supported)")
        }
        // The account names the key belongs to and the URL's path; derived from a path-style endpoint when not given.
        let resolvedAccount = account ?? keyAccount ?? Self.accountFromEndpoint(endpoint)
        guard let resolvedAccount, !resolvedAccount.isEmpty else {
            throw StoreURLError("azure://\(container) needs a storage account: account=NAME, azure.account or AZURE_STORAGE_ACCOUNT")
        }
        if let keyAccount, keyAccount != resolvedAccount, case .sharedKey = credentials {
            throw StoreURLError("azure account \(resolvedAccount) differs from the connection string's AccountName \(keyAccount): its key cannot sign for another account")
        }
        let path = url.percentEncodedPath.removingPercentEncoding ?? url.path
        self.init(container: container, prefix: path, account: resolvedAccount, endpoint: endpoint, credentials: credentials,
                  connection: try o.connection(maxListPage: 5000))
    }

    /// `azure://container/prefix at endpoint`: for messages; never holds credentials.
    public var description: String {
        let where_ = prefix.isEmpty ? "azure://\(container)" : "azure://\(container)/\(prefix)"
        return "\(where_) at \(endpoint.absoluteString)"
    }

    /// Azure's container naming rule: 3–63 of `a-z0-9-`, starting with a letter or digit, no `--`.
    static func validContainer(_ name: String) -> Bool {
        let chars = Array(name.utf8)
        guard (3...63).contains(chars.count), chars.first != UInt8(ascii: "-"), chars.last != UInt8(ascii: "-"), !name.contains("--") else { return false }
        return chars.allSatisfy { (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || $0 == UInt8(ascii: "-") }
    }

    /// `devstoreaccount1` from `http://127.0.0.1:10000/devstoreaccount1`; else the first label of `ACCOUNT.blob.…`.
    static func accountFromEndpoint(_ url: URL) -> String? {
        let segments = url.path.split(separator: "/")
        if let first = segments.first { return String(first) }
        if let host = url.host, host.contains(".blob.") { return String(host.prefix { $0 != "." }) }
        return nil
    }

    static func decodeKey(_ text: String, source: String) throws -> [UInt8] {
        guard let data = Data(base64Encoded: text.trimmingCharacters(in: .whitespaces)), !data.isEmpty else {
            throw StoreURLError("\(source) is not a base64 Azure storage account key")
        }
        return Array(data)
    }

    static func trimSAS(_ s: String) -> String {
        s.hasPrefix("?") ? String(s.dropFirst()) : s
    }
}

/// The parts of an Azure storage connection string Trove uses
/// (`DefaultEndpointsProtocol=https;AccountName=…;AccountKey=…;EndpointSuffix=…`, `BlobEndpoint=…`,
/// `SharedAccessSignature=…`, `UseDevelopmentStorage=true`).
struct ConnectionString {
    var accountName: String?
    var accountKey: String?
    var sas: String?
    var blobEndpoint: String?
    var endpointSuffix: String?

    init(_ text: String) throws {
        var parts: [String: String] = [:]
        for item in text.split(separator: ";", omittingEmptySubsequences: true) {
            guard let eq = item.firstIndex(of: "=") else {
                throw StoreURLError("Azure connection string is malformed: expected Name=value parts separated by ';'")
            }
            parts[item[..<eq].trimmingCharacters(in: .whitespaces).lowercased()] = String(item[item.index(after: eq)...])
        }
        if parts["usedevelopmentstorage"]?.lowercased() == "true" {
            accountName = AzureConfiguration.developmentAccount
            accountKey = AzureConfiguration.developmentKey
            blobEndpoint = "http://127.0.0.1:10000/\(AzureConfiguration.developmentAccount)"
            return
        }
        accountName = parts["accountname"]
        accountKey = parts["accountkey"]
        sas = parts["sharedaccesssignature"].map(AzureConfiguration.trimSAS)
        blobEndpoint = parts["blobendpoint"]
        endpointSuffix = parts["endpointsuffix"]
        if blobEndpoint == nil, let name = accountName {
            let scheme = parts["defaultendpointsprotocol"] ?? "https"
            blobEndpoint = "\(scheme)://\(name).blob.\(endpointSuffix ?? "core.windows.net")"
        }
        guard accountKey != nil || sas != nil else {
            throw StoreURLError("Azure connection string has neither AccountKey nor SharedAccessSignature (Entra ID tokens are not supported)")
        }
    }
}
