import AWSClient
import Foundation
import Testing

/// Known answers from the public AWS SigV4 test suite (`get-vanilla` family) and, for our own headers,
/// values computed independently with botocore's signer for the same inputs.
@Suite struct SigV4KnownAnswers {
    static let credentials = AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    /// 20150830T123600Z
    static let date = Date(timeIntervalSince1970: 1_440_938_160)
    static let signer = SigV4Signer(service: "service", region: "us-east-1")
    static let vanillaHeaders = ["Host": "example.amazonaws.com", "X-Amz-Date": "20150830T123600Z"]

    func authorization(_ method: String, _ path: String, _ query: String = "", headers: [String: String] = vanillaHeaders,
                       credentials: AWSCredentials = credentials) -> String {
        Self.signer.authorization(method: method, path: path, query: query, headers: headers,
                                  payloadHash: SigV4Signer.emptyPayloadHash, credentials: credentials, date: Self.date)
    }

    @Test func timestampFormat() {
        #expect(SigV4Signer.timestamp(Self.date) == "20150830T123600Z")
    }

    @Test func getVanilla() {
        #expect(authorization("GET", "/") == "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")
    }

    @Test func getVanillaQueryOrderKeyCase() {
        #expect(authorization("GET", "/", "Param2=value2&Param1=value1") == "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500")
    }

    @Test func postVanilla() {
        #expect(authorization("POST", "/") == "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b")
    }

    @Test func getVanillaWithSessionToken() {
        let token = "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA=="
        var headers = Self.vanillaHeaders
        headers["X-Amz-Security-Token"] = token
        #expect(authorization("GET", "/", headers: headers) == "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=c8db8b9676d526f735dac5330f17623554c6cad1e2980d321903e9a3884c051b")
    }

    @Test func signingKeyDerivation() {
        // The AWS documentation's example: kSigning for 20150830 / us-east-1 / iam.
        let key = SigV4Signer(service: "iam", region: "us-east-1").signingKey(secretAccessKey: Self.credentials.secretAccessKey, date: Self.date)
        #expect(key.hex == "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9")
    }

    @Test func lambdaRequestIsSignedWithContentHashAndTokenAndPathEncodedTwice() throws {
        var request = HTTPRequest(
            method: "GET",
            url: "https://lambda.us-east-1.amazonaws.com/2018-10-31/layers/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Alayer%3Amy-layer/versions?MaxItems=50&Marker=a%2Fb"
        )
        let credentials = AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: Self.credentials.secretAccessKey, sessionToken: "SESSIONTOKEN")
        try SigV4Signer(service: "lambda", region: "us-east-1").sign(&request, payloadHash: SigV4Signer.emptyPayloadHash, credentials: credentials, date: Self.date)
        #expect(request.headers["Authorization"] == "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/lambda/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token, Signature=f568f1ddc71b45d48550e6b129ee486d4608cfd417a570e8be28950554cc64cd")
        #expect(request.headers["X-Amz-Content-SHA256"] == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(request.headers["X-Amz-Security-Token"] == "SESSIONTOKEN")
        #expect(request.headers["Host"] == "lambda.us-east-1.amazonaws.com")
    }

    @Test func s3KeyIsNotEncodedTwiceAndPortIsInHost() throws {
        var request = HTTPRequest(method: "PUT", url: "http://127.0.0.1:5000/my-bucket/dir/my%20file%2Bv1.zip",
                                  headers: ["Content-Type": "application/zip"], body: .data(Data("hello".utf8)))
        try SigV4Signer(service: "s3", region: "us-east-1").sign(
            &request, payloadHash: "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824", credentials: Self.credentials, date: Self.date)
        #expect(request.headers["Authorization"] == "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/s3/aws4_request, SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date, Signature=b05ea84be98a350d807a2e019feae6e13531f383110ed8cd9d3543ef99800e0c")
        #expect(request.headers["Host"] == "127.0.0.1:5000")
    }

    @Test func resigningReplacesTheOldSignature() throws {
        var request = HTTPRequest(method: "GET", url: "https://example.amazonaws.com/")
        let signer = SigV4Signer(service: "service", region: "us-east-1")
        try signer.sign(&request, payloadHash: SigV4Signer.emptyPayloadHash, credentials: Self.credentials, date: Self.date)
        let first = request.headers["Authorization"]
        request.headers["authorization"] = "stale"
        try signer.sign(&request, payloadHash: SigV4Signer.emptyPayloadHash, credentials: Self.credentials, date: Self.date)
        #expect(request.headers["Authorization"] == first)
        #expect(request.headers.keys.filter { $0.lowercased() == "authorization" }.count == 1)
    }
}

@Suite struct URIEncoding {
    @Test func unreservedCharactersStay() {
        #expect(SigV4Signer.percentEncode("AZaz09-_.~") == "AZaz09-_.~")
    }

    @Test func everythingElseIsUpperCaseHex() {
        #expect(SigV4Signer.percentEncode("a b+c=d&e/f:g") == "a%20b%2Bc%3Dd%26e%2Ff%3Ag")
        #expect(SigV4Signer.percentEncode("ሴ") == "%E1%88%B4")
        #expect(SigV4Signer.percentEncode("%") == "%25")
    }

    @Test func slashKeptForObjectKeys() {
        #expect(SigV4Signer.percentEncode("layers/my layer/v1.zip", keepSlash: true) == "layers/my%20layer/v1.zip")
    }
}
