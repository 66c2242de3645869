import Foundation
import Testing
import TroveHTTP
@testable import TroveS3
import TroveStorage

@Suite struct S3ConfigurationTests {
    let creds = StoreSettings(["s3.access_key_id": "AKIDSETTINGS", "s3.secret_access_key": "settings-secret"])

    func config(_ url: String, _ settings: StoreSettings? = nil, env: [String: String] = [:]) throws -> S3Configuration {
        try S3Configuration(url: URLComponents(string: url)!, settings: settings ?? creds, environment: env)
    }

    @Test func urlQueryWinsOverSettingsAndEnvironment() throws {
        var settings = creds
        settings.values["s3.endpoint"] = "http://settings:9000"
        settings.values["s3.region"] = "eu-west-1"
        let c = try config("s3://bkt/some/prefix/?endpoint=http://127.0.0.1:9000&region=us-west-2&max_connections=4", settings,
                           env: ["AWS_REGION": "ap-south-1", "AWS_ENDPOINT_URL": "http://env:1"])
        #expect(c.bucket == "bkt" && c.prefix == "some/prefix")
        #expect(c.endpoint.absoluteString == "http://127.0.0.1:9000" && c.region == "us-west-2")
        #expect(c.pathStyle && c.maxConnections == 4)
        let s = try config("s3://bkt", settings, env: ["AWS_REGION": "ap-south-1"])
        #expect(s.endpoint.absoluteString == "http://settings:9000" && s.region == "eu-west-1")
        let e = try config("s3://bkt", env: ["AWS_DEFAULT_REGION": "ap-south-1", "AWS_ENDPOINT_URL_S3": "http://env-s3:1", "AWS_ENDPOINT_URL": "http://env:1"])
        #expect(e.endpoint.absoluteString == "http://env-s3:1" && e.region == "ap-south-1")
    }

    @Test func awsDefaultsToVirtualHostedStyle() throws {
        let c = try config("s3://my-bucket/p?region=eu-central-1")
        #expect(c.endpoint.absoluteString == "https://s3.eu-central-1.amazonaws.com")
        #expect(!c.pathStyle)
        #expect(c.hostAndBase.host == "my-bucket.s3.eu-central-1.amazonaws.com")
        #expect(try config("s3://dotted.bucket").pathStyle)
        #expect(try !config("s3://b?endpoint=http://x:1&path_style=false").pathStyle)
    }

    @Test func credentialsFromEnvironmentFirst() throws {
        let c = try config("s3://b", env: ["AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "env-secret", "AWS_SESSION_TOKEN": "tok"])
        #expect(c.credentials.accessKeyId == "AKIDENV" && c.credentials.sessionToken == "tok")
        #expect(try config("s3://b").credentials.accessKeyId == "AKIDSETTINGS")
        #expect(throws: StoreURLError.self) { try config("s3://b", StoreSettings()) }
    }

    @Test func badOptionsAreRejected() {
        #expect(throws: StoreURLError.self) { try config("s3://b?endpoit=http://x") }
        #expect(throws: StoreURLError.self) { try config("s3://b?endpoint=ftp://x") }
        #expect(throws: StoreURLError.self) { try config("s3://b?max_connections=0") }
        #expect(throws: StoreURLError.self) { try config("s3:///nobucket") }
    }

    @Test func displayNameHasNoSecrets() throws {
        let store = try S3BlobStore(configuration: try config("s3://bkt/pre?endpoint=http://127.0.0.1:9000"))
        #expect(store.displayName == "s3://bkt/pre at http://127.0.0.1:9000")
        #expect(!store.displayName.contains("settings-secret") && !"\(store.configuration)".contains("settings-secret"))
    }

    // MARK: error mapping

    func mapped(_ status: Int, _ code: String?, key: ObjectKey? = "k", op: String = "get") throws -> BlobStoreError {
        let body = code.map { Array("<?xml version=\"1.0\"?><Error><Code>\($0)</Code><Message>m\nsecond line</Message></Error>".utf8) } ?? []
        return S3ErrorMapping.map(status: status, body: body, operation: op, key: key, range: ByteRange(offset: 5, length: nil),
                                  configuration: try config("s3://bkt?endpoint=http://127.0.0.1:9000"))
    }

    @Test func errorMapping() throws {
        for (status, code) in [(503, "SlowDown"), (500, "InternalError"), (400, "RequestTimeout"), (429, nil), (502, nil), (400, "BadDigest")] {
            #expect(try mapped(status, code).isRetryable, "\(status) \(code ?? "-")")
        }
        guard case .notFound = try mapped(404, "NoSuchKey") else { Issue.record("NoSuchKey"); return }
        guard case .invalidRange = try mapped(416, "InvalidRange") else { Issue.record("InvalidRange"); return }
        guard case .preconditionFailed = try mapped(412, "PreconditionFailed", op: "put") else { Issue.record("412"); return }
        guard case .preconditionFailed = try mapped(409, "ConditionalRequestConflict", op: "put") else { Issue.record("409"); return }
        #expect(try mapped(403, "RequestTimeTooSkewed").description
                == "the local clock differs too much from the clock of S3 at http://127.0.0.1:9000 (RequestTimeTooSkewed): correct the system time (bucket bkt)")
        #expect(try mapped(403, "SignatureDoesNotMatch").description.contains("wrong secret access key for access key id AKIDSETTINGS"))
        #expect(try mapped(404, "NoSuchBucket", key: nil, op: "list").description == "bucket bkt does not exist at http://127.0.0.1:9000 (NoSuchBucket)")
        let other = try mapped(400, "InvalidArgument").description
        #expect(!other.contains("\n") && other.contains("InvalidArgument: m second line"), "\(other)")
        #expect(!(try mapped(403, "AccessDenied").isRetryable))
    }

    @Test func xmlParsing() throws {
        let doc = CloudXML.parse(Array("""
            <?xml version="1.0" encoding="UTF-8"?>
            <ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><IsTruncated>true</IsTruncated>
            <Contents><Key>a&amp;b&#x2F;c &lt;d&gt;</Key><ETag>&quot;abc&quot;</ETag><Size>12</Size></Contents>
            <Contents><Key><![CDATA[x<y]]></Key></Contents><Empty/><NextContinuationToken>t/+=</NextContinuationToken></ListBucketResult>
            """.utf8))
        #expect(doc?.name == "ListBucketResult")
        #expect(doc?["IsTruncated"] == "true" && doc?["NextContinuationToken"] == "t/+=")
        #expect(doc?.all("Contents").map { $0["Key"] ?? "" } == ["a&b/c <d>", "x<y"])
        #expect(doc?.all("Contents").first?["ETag"] == "\"abc\"")
        #expect(MarkupEscaping.escape("a<&>\"'") == "a&lt;&amp;&gt;&quot;&#39;")
        #expect(CloudXML.parse(Array("not xml".utf8)) == nil)
    }
}
