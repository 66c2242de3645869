import Foundation
import Testing
@testable import TroveAzure
import TroveHTTP
import TroveStorage

@Suite struct AzureConfigurationTests {
    static let key = Data((0..<64).map { UInt8($0) }).base64EncodedString()
    let keySettings = StoreSettings(["azure.account_key": AzureConfigurationTests.key])

    func config(_ url: String, _ settings: StoreSettings? = nil, env: [String: String] = [:]) throws -> AzureConfiguration {
        try AzureConfiguration(url: URLComponents(string: url)!, settings: settings ?? keySettings, environment: env)
    }

    @Test func urlQueryWinsOverSettingsAndEnvironment() throws {
        var settings = keySettings
        settings.values["azure.account"] = "fromsettings"
        settings.values["azure.max_connections"] = "8"
        let c = try config("azure://docs/some/prefix/?account=fromurl&endpoint=http://127.0.0.1:10000/fromurl&max_connections=4&list_page_size=100",
                           settings, env: ["AZURE_STORAGE_ACCOUNT": "fromenv"])
        #expect(c.container == "docs" && c.prefix == "some/prefix" && c.account == "fromurl")
        #expect(c.endpoint.absoluteString == "http://127.0.0.1:10000/fromurl")
        #expect(c.connection == ConnectionOptions(maxConnections: 4, stallTimeout: .seconds(30), listPageSize: 100))
        let s = try config("azure://docs", settings, env: ["AZURE_STORAGE_ACCOUNT": "fromenv"])
        #expect(s.account == "fromsettings" && s.connection.maxConnections == 8)
        #expect(s.endpoint.absoluteString == "https://fromsettings.blob.core.windows.net")
        let e = try config("azure://docs", env: ["AZURE_STORAGE_ACCOUNT": "fromenv"])
        #expect(e.account == "fromenv" && e.connection.listPageSize == 5000)
    }

    @Test func credentialsTheWayAzureToolsReadThem() throws {
        let cs = "DefaultEndpointsProtocol=https;AccountName=csaccount;AccountKey=\(Self.key);EndpointSuffix=core.chinacloudapi.cn"
        let fromCS = try config("azure://docs", StoreSettings(), env: ["AZURE_STORAGE_CONNECTION_STRING": cs])
        #expect(fromCS.account == "csaccount" && fromCS.endpoint.absoluteString == "https://csaccount.blob.core.chinacloudapi.cn")
        guard case .sharedKey(let k) = fromCS.credentials else { Issue.record("connection string key"); return }
        #expect(k == Array(0..<64))
        let sasCS = try config("azure://docs", StoreSettings(), env: ["AZURE_STORAGE_CONNECTION_STRING": "BlobEndpoint=http://127.0.0.1:9/acct;SharedAccessSignature=sv=2021&sig=abc"])
        guard case .sas(let t) = sasCS.credentials else { Issue.record("connection string SAS"); return }
        #expect(t == "sv=2021&sig=abc" && sasCS.account == "acct")
        let envKey = try config("azure://docs", StoreSettings(), env: ["AZURE_STORAGE_ACCOUNT": "a1", "AZURE_STORAGE_KEY": Self.key])
        #expect(envKey.credentials.kind == "Shared Key")
        let envSAS = try config("azure://docs", StoreSettings(), env: ["AZURE_STORAGE_ACCOUNT": "a1", "AZURE_STORAGE_SAS_TOKEN": "?sv=x&sig=y"])
        guard case .sas(let t2) = envSAS.credentials else { Issue.record("env SAS"); return }
        #expect(t2 == "sv=x&sig=y")
        let dev = try config("azure://docs", StoreSettings(), env: ["AZURE_STORAGE_CONNECTION_STRING": "UseDevelopmentStorage=true"])
        #expect(dev.account == "devstoreaccount1" && dev.endpoint.absoluteString == "http://127.0.0.1:10000/devstoreaccount1")
        // Environment first, then settings (as for S3).
        let both = try config("azure://docs?account=a", StoreSettings(["azure.sas_token": "sv=s&sig=settings"]), env: ["AZURE_STORAGE_KEY": Self.key])
        #expect(both.credentials.kind == "Shared Key")
    }

    @Test func missingOrBadInputIsOneClearError() throws {
        func message(_ body: () throws -> Any) -> String {
            do { _ = try body(); return "" } catch { return "\(error)" }
        }
        let none = message { try config("azure://docs?account=a", StoreSettings()) }
        #expect(none.contains("no Azure credentials for azure://docs") && none.contains("Entra ID tokens are not supported"), "\(none)")
        #expect(message { try config("azure://docs?acount=a") }.contains("unknown azure URL option acount"))
        #expect(message { try config("azure://docs?account=a&max_connections=0") }.contains("azure max_connections must be a number in 1...1024"))
        #expect(message { try config("azure://docs?account=a&list_page_size=6000") }.contains("1...5000"))
        #expect(message { try config("azure://docs?account=a&endpoint=ftp://x") }.contains("azure endpoint must be an http:// or https:// URL"))
        #expect(message { try config("azure://Bad_Container?account=a") }.contains("azure container name Bad_Container is invalid"))
        #expect(message { try config("azure:///p?account=a") }.contains("needs a container"))
        #expect(message { try config("azure://docs") }.contains("needs a storage account"))
        let badKey = message { try config("azure://docs?account=a", StoreSettings(["azure.account_key": "not base64!"])) }
        #expect(badKey == "azure.account_key is not a base64 Azure storage account key", "\(badKey)")
        let other = message { try config("azure://docs?account=other", StoreSettings(), env: ["AZURE_STORAGE_CONNECTION_STRING": "AccountName=csaccount;AccountKey=\(Self.key)"]) }
        #expect(other.contains("differs from the connection string's AccountName csaccount"), "\(other)")
    }

    @Test func displayNameHasNoSecrets() throws {
        let store = try AzureBlobStore(configuration: try config("azure://docs/pre?account=a&endpoint=http://127.0.0.1:10000/a"))
        #expect(store.displayName == "azure://docs/pre at http://127.0.0.1:10000/a")
        #expect(!"\(store.configuration)".contains(Self.key) && !"\(store.configuration.credentials)".contains(Self.key))
        let sas = try config("azure://docs?account=a", StoreSettings(["azure.sas_token": "sv=1&sig=SECRETSIG"]))
        #expect(!"\(sas.credentials)".contains("SECRETSIG") && !sas.description.contains("SECRETSIG"))
    }

    /// Signatures computed by azure-storage-blob 12.x's SharedKeyCredentialPolicy for the same requests.
    @Test func sharedKeyMatchesTheSDK() {
        let signer = SharedKeySigner(account: "myaccount", key: Array(0..<64))
        let put = signer.authorization(method: "PUT", path: "/myaccount/trove-test/pre/a%20b%2Bc", query: [], headers: [
            ("x-ms-date", "Mon, 02 Mar 2026 10:00:00 GMT"), ("x-ms-version", "2021-12-02"), ("x-ms-blob-type", "BlockBlob"),
            ("content-type", "application/octet-stream"), ("content-md5", "1B2M2Y8AsgTpgAmY7PhCfg=="), ("content-length", "3"),
            ("if-none-match", "*"),
        ])
        #expect(put == "SharedKey myaccount:1U86ZA56cmzcEoMmFiC3+WPyHiH7dB9s89N6Cr2+hVc=")
        let list = signer.authorization(method: "GET", path: "/myaccount/trove-test",
                                        query: [("restype", "container"), ("comp", "list"), ("prefix", "pre/packs/"), ("maxresults", "5000"), ("marker", "2!abc")],
                                        headers: [("x-ms-date", "Mon, 02 Mar 2026 10:00:00 GMT"), ("x-ms-version", "2021-12-02")])
        #expect(list == "SharedKey myaccount:B5jwibTi1aV5Qc1ZmFWkW6hwNZDKn9hbIHVLpH9j2VE=")
        #expect(SharedKeySigner.encodePath("a b/c+d/é") == "a%20b/c%2Bd/%C3%A9")
    }

    // MARK: error mapping

    func mapped(_ status: Int, _ code: String?, detail: String = "", key: ObjectKey? = "k", op: String = "get",
                sas: Bool = false) throws -> BlobStoreError {
        let c = try config("azure://docs?account=acct&endpoint=http://127.0.0.1:10000/acct", sas ? StoreSettings(["azure.sas_token": "sv=1&sig=x"]) : nil)
        let body = code.map { Array("<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>\($0)</Code><Message>m\nRequestId:1\nTime:2</Message><AuthenticationErrorDetail>\(detail)</AuthenticationErrorDetail></Error>".utf8) } ?? []
        return AzureErrorMapping.map(HTTPResponse(status: status, headers: [], body: body), operation: op, key: key,
                                     range: ByteRange(offset: 5, length: nil), configuration: c)
    }

    @Test func errorMapping() throws {
        for (status, code) in [(503, "ServerBusy"), (500, "InternalError"), (500, "OperationTimedOut"), (429, nil), (502, nil), (400, "Md5Mismatch")] {
            #expect(try mapped(status, code).isRetryable, "\(status) \(code ?? "-")")
        }
        guard case .notFound = try mapped(404, "BlobNotFound") else { Issue.record("BlobNotFound"); return }
        guard case .invalidRange = try mapped(416, "InvalidRange") else { Issue.record("InvalidRange"); return }
        guard case .preconditionFailed = try mapped(412, "ConditionNotMet", op: "put") else { Issue.record("412"); return }
        guard case .preconditionFailed = try mapped(409, "BlobAlreadyExists", op: "put") else { Issue.record("409"); return }
        #expect(try mapped(404, "ContainerNotFound", key: nil, op: "list").description
                == "container docs does not exist in account acct at http://127.0.0.1:10000/acct (ContainerNotFound)")
        #expect(try mapped(403, "AuthenticationFailed").description.contains("rejected the request signature for account acct: wrong account key"))
        #expect(try mapped(403, "AuthenticationFailed", detail: "Request date header too old: 'Mon, 01 Jan 2024 00:00:00 GMT'").description
                .hasPrefix("the local clock differs too much from the clock of Azure at http://127.0.0.1:10000/acct"))
        #expect(try mapped(403, "AuthenticationFailed", detail: "Signature not valid in the specified time frame", sas: true).description
                .contains("SAS token for azure://docs at http://127.0.0.1:10000/acct has expired"))
        #expect(try mapped(403, "AuthenticationFailed", detail: "Signature did not match", sas: true).description.contains("rejected the SAS token"))
        let perm = try mapped(403, "AuthorizationPermissionMismatch", op: "put", sas: true).description
        #expect(perm.contains("access denied: put k in azure://docs") && perm.contains("the SAS token lacks a permission"), "\(perm)")
        let other = try mapped(400, "InvalidHeaderValue").description
        #expect(!other.contains("\n") && other.contains("InvalidHeaderValue: m)"), "\(other)")
        // HEAD answers have no body: the code comes from x-ms-error-code.
        let c = try config("azure://docs?account=acct")
        let head = AzureErrorMapping.map(HTTPResponse(status: 404, headers: [("x-ms-error-code", "ContainerNotFound")], body: []),
                                         operation: "head", key: "k", configuration: c)
        #expect(head.description.contains("(ContainerNotFound)"))
    }

    @Test func batchResponseParsing() throws {
        let body = "--batchresponse_1\r\nContent-Type: application/http\r\nContent-ID: 1\r\n\r\nHTTP/1.1 404 The specified blob does not exist.\r\nx-ms-error-code: BlobNotFound\r\nContent-Length: 0\r\n\r\n"
            + "--batchresponse_1\r\nContent-Type: application/http\r\nContent-ID: 0\r\n\r\nHTTP/1.1 202 Accepted\r\nx-ms-delete-type-permanent: true\r\n\r\n"
            + "--batchresponse_1\r\nContent-Type: application/http\r\nContent-ID: 2\r\n\r\nHTTP/1.1 403 Forbidden\r\nx-ms-error-code: AuthorizationPermissionMismatch\r\nContent-Length: 10\r\n\r\n<Error/>\r\n"
            + "--batchresponse_1--\r\n"
        let r = HTTPResponse(status: 202, headers: [("Content-Type", "multipart/mixed; boundary=batchresponse_1")], body: Array(body.utf8))
        let results = try #require(BlobBatch.parseResponse(r))
        #expect(results.map(\.status) == [202, 404, 403])
        #expect(results.map { $0.error?.code ?? "" } == ["", "BlobNotFound", "AuthorizationPermissionMismatch"])
    }
}
