import Foundation
import Testing
import TroveS3

@Suite struct SigV4SignerTests {
    // The worked examples in AWS's "Signature Calculations for the Authorization Header" (S3 API reference).
    static let awsExample = AWSCredentials(accessKeyId: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    static let exampleDate = Date(timeIntervalSince1970: 1_369_353_600) // 2013-05-24T00:00:00Z
    static let emptyHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    func sign(_ method: String, _ path: String, _ query: [(String, String)], _ headers: [(name: String, value: String)], _ hash: String) -> SigV4Signer.Signed {
        SigV4Signer(credentials: Self.awsExample, region: "us-east-1")
            .sign(method: method, path: path, query: query, headers: [("Host", "examplebucket.s3.amazonaws.com")] + headers,
                  payloadHash: hash, date: Self.exampleDate)
    }

    @Test func awsExampleGetObject() {
        let s = sign("GET", "/test.txt", [], [("Range", "bytes=0-9"), ("x-amz-content-sha256", Self.emptyHash)], Self.emptyHash)
        #expect(s.canonicalRequest == """
            GET
            /test.txt

            host:examplebucket.s3.amazonaws.com
            range:bytes=0-9
            x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
            x-amz-date:20130524T000000Z

            host;range;x-amz-content-sha256;x-amz-date
            e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
            """)
        #expect(s.stringToSign.hasSuffix("7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972"))
        #expect(s.signature == "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
        #expect(s.authorization == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
    }

    @Test func awsExamplePutObject() {
        let hash = "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"
        let s = sign("PUT", "/test$file.text", [], [("Date", "Fri, 24 May 2013 00:00:00 GMT"), ("x-amz-storage-class", "REDUCED_REDUNDANCY")], hash)
        #expect(s.canonicalURI == "/test%24file.text")
        #expect(s.signature == "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd")
    }

    @Test func awsExampleBucketLifecycle() {
        let s = sign("GET", "/", [("lifecycle", "")], [], Self.emptyHash)
        #expect(s.requestTarget == "/?lifecycle=")
        #expect(s.signature == "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543")
    }

    @Test func awsExampleListObjects() {
        let s = sign("GET", "/", [("prefix", "J"), ("max-keys", "2")], [], Self.emptyHash)
        #expect(s.canonicalQuery == "max-keys=2&prefix=J")
        #expect(s.signature == "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7")
    }

    @Test func uriEncoding() {
        #expect(SigV4Signer.uriEncode("a b+c=d&e/ü~_-.") == "a%20b%2Bc%3Dd%26e%2F%C3%BC~_-.")
        #expect(SigV4Signer.encodePath("/bucket/a b/%2F/x") == "/bucket/a%20b/%252F/x")
        #expect(SigV4Signer.encodePath("") == "/")
    }

    @Test func sessionTokenAndSecretStayOutOfDescriptions() {
        let c = AWSCredentials(accessKeyId: "AKID", secretAccessKey: "s3cr3t", sessionToken: "tok3n")
        #expect(!"\(c)".contains("s3cr3t") && !"\(c)".contains("tok3n"))
        let s = SigV4Signer(credentials: c, region: "eu-west-1")
            .sign(method: "GET", path: "/b/k", query: [], headers: [("host", "h")], payloadHash: Self.emptyHash, date: Self.exampleDate)
        #expect(s.headers.contains { $0.name == "x-amz-security-token" && $0.value == "tok3n" })
        #expect(s.authorization?.contains("x-amz-security-token") == true)
        #expect(!(s.authorization ?? "").contains("s3cr3t"))
    }

    // Requests built and signed by botocore (Tests/s3server/sigv4_fixtures.py); Trove must encode
    // the same logical request identically and produce the same Authorization header.
    struct Fixture: Decodable {
        struct Case: Decodable {
            var name: String
            var method: String
            var bucket: String
            var key: String?
            var query: [[String]]
            var raw_path: String
            var raw_query: String
            var signed_headers: [String]
            var headers: [String: String]
            var authorization: String
            var amz_date: String
            var access_key_id: String
            var secret_access_key: String
            var region: String
        }
        var cases: [Case]
    }

    static func fixture() throws -> Fixture {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/sigv4_botocore.json")
        return try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }

    @Test func botocoreCrossCheck() throws {
        let fixture = try Self.fixture()
        #expect(fixture.cases.count >= 6)
        let parser = DateFormatter()
        parser.locale = Locale(identifier: "en_US_POSIX")
        parser.timeZone = TimeZone(identifier: "UTC")
        parser.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        for c in fixture.cases {
            let signedNames = Set(c.signed_headers)
            let headers = c.headers.filter { signedNames.contains($0.key.lowercased()) }.map { (name: $0.key, value: $0.value) }
            let host = URL(string: "http://127.0.0.1:9000")!
            let allHeaders = headers.contains { $0.name.lowercased() == "host" } ? headers : [("host", "\(host.host!):\(host.port!)")] + headers
            let token = c.headers["X-Amz-Security-Token"]
            let signer = SigV4Signer(credentials: AWSCredentials(accessKeyId: c.access_key_id, secretAccessKey: c.secret_access_key, sessionToken: token),
                                     region: c.region)
            let path = "/\(c.bucket)" + (c.key.map { "/\($0)" } ?? "")
            let signed = signer.sign(method: c.method, path: path, query: c.query.map { ($0[0], $0[1]) }, headers: allHeaders,
                                     payloadHash: c.headers["X-Amz-Content-SHA256"]!, date: parser.date(from: c.amz_date)!)
            #expect(signed.canonicalURI == c.raw_path, "\(c.name): path")
            let botoQuery = c.raw_query.split(separator: "&").map { $0.contains("=") ? String($0) : "\($0)=" }.sorted().joined(separator: "&")
            #expect(signed.canonicalQuery == botoQuery, "\(c.name): query")
            #expect(signed.authorization == c.authorization, "\(c.name): authorization")
        }
    }
}
