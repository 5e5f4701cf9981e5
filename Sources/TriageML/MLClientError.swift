import Resilience

/// Why an inference call failed. Every case counts as a failure for the circuit breaker;
/// the caller falls back to the rule-based classifier for the affected alerts.
public enum MLClientError: Error, Equatable, CustomStringConvertible {
    /// The configured base URL and model name do not form a valid URL.
    case invalidURL(String)
    /// The request could not be sent or its answer not received (connection refused,
    /// reset, TLS, ...); the underlying error is described.
    case transport(String)
    /// No complete answer within the configured per-call timeout.
    case timeout(Duration)
    /// The server answered with a non-2xx status; `body` is its first bytes.
    case httpStatus(code: Int, body: String)
    /// The response body exceeded ``MLClient/Configuration/maxResponseBytes``.
    case responseTooLarge(limit: Int)
    /// The body is not JSON, or not an Open Inference Protocol v2 response.
    case malformedResponse(String)
    /// The response has no output with this name.
    case missingOutput(String)
    /// An output's shape is not `[N]` or `[N, 1]` for a batch of N alerts.
    case wrongShape(output: String, shape: [Int], expectedCount: Int)
    /// An output's `data` holds a different number of values than alerts sent.
    case wrongLength(output: String, count: Int, expectedCount: Int)
    /// An output's datatype or values are not what it must carry (BYTES labels,
    /// FP32/FP64 confidences in 0...1).
    case wrongType(output: String, detail: String)
    /// A label output holds a value the model contract does not know.
    case unknownLabel(output: String, label: String)

    /// A short, stable name for the case, used as the `reason` metric dimension.
    public var reason: String {
        switch self {
        case .invalidURL: "invalid_url"
        case .transport: "transport"
        case .timeout: "timeout"
        case .httpStatus: "http_status"
        case .responseTooLarge: "too_large"
        case .malformedResponse: "malformed"
        case .missingOutput: "missing_output"
        case .wrongShape: "wrong_shape"
        case .wrongLength: "wrong_length"
        case .wrongType: "wrong_type"
        case .unknownLabel: "unknown_label"
        }
    }

    public var description: String {
        switch self {
        case let .invalidURL(url): "invalid inference URL \(url)"
        case let .transport(detail): "inference request failed: \(detail)"
        case let .timeout(limit): "inference call took longer than \(limit)"
        case let .httpStatus(code, body): "inference server answered HTTP \(code): \(body)"
        case let .responseTooLarge(limit): "inference response larger than \(limit) bytes"
        case let .malformedResponse(detail): "malformed inference response: \(detail)"
        case let .missingOutput(name): "inference response has no output `\(name)`"
        case let .wrongShape(output, shape, expected): "output `\(output)` has shape \(shape), expected [\(expected)]"
        case let .wrongLength(output, count, expected): "output `\(output)` has \(count) values, expected \(expected)"
        case let .wrongType(output, detail): "output `\(output)`: \(detail)"
        case let .unknownLabel(output, label): "output `\(output)` holds unknown label `\(label)`"
        }
    }
}

extension MLClientError: TimeoutReportingError {
    /// The client's own deadline, so a breaker counts a slow server as a timeout.
    public var timedOutAfter: Duration? {
        if case .timeout(let after) = self { after } else { nil }
    }
}
