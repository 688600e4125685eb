import AWSClient
import Foundation
import Synchronization

/// An `HTTPTransport` that answers from a script and records what it was sent, for unit tests that need
/// no server. Each `send` takes the next answer; running out is a test bug and answers HTTP 599.
public final class StubTransport: HTTPTransport {
    public enum Answer: Sendable {
        case response(HTTPResponse)
        case error(AWSClientError)

        /// A JSON answer, as Lambda sends them.
        public static func json(_ status: Int, _ body: String, headers: [String: String] = [:]) -> Answer {
            .response(HTTPResponse(statusCode: status, headers: headers.merging(["Content-Type": "application/json"]) { a, _ in a }, body: Data(body.utf8)))
        }
    }

    private let state: Mutex<(answers: [Answer], requests: [HTTPRequest])>

    public init(_ answers: [Answer]) {
        state = Mutex((answers, []))
    }

    public func send(_ request: HTTPRequest) throws -> HTTPResponse {
        let answer = state.withLock { state -> Answer in
            state.requests.append(request)
            return state.answers.isEmpty ? .json(599, #"{"message":"the stub transport ran out of answers"}"#) : state.answers.removeFirst()
        }
        switch answer {
        case .response(let response): return response
        case .error(let error): throw error
        }
    }

    /// Every request sent so far, in order.
    public var requests: [HTTPRequest] { state.withLock { $0.requests } }
}

/// A sleeper that only records what it was asked to wait, for retry tests on a fake clock.
public final class RecordingSleeper: Sendable {
    private let delays = Mutex<[Duration]>([])

    public init() {}

    public var sleep: @Sendable (Duration) -> Void { { [self] duration in delays.withLock { $0.append(duration) } } }

    public var recorded: [Duration] { delays.withLock { $0 } }
}
