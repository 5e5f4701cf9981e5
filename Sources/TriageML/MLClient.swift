import AsyncHTTPClient
import Foundation
import Logging
import Metrics
import NIOCore
import Triage

/// Classifies alerts with a model served over the Open Inference Protocol v2
/// (MLServer, KServe, Triton): one `POST /v2/models/{name}/infer` per batch, whose
/// BYTES input of shape `[N]` holds the alerts' texts (``text(for:)``) and whose
/// response carries severity and category labels with their confidences.
///
/// Owns an `HTTPClient` with a connection pool: call ``shutdown()`` when done.
/// Every failure (transport, timeout, HTTP status, oversized or malformed body, missing
/// output, wrong shape or length, unknown label) is thrown as an ``MLClientError``; a
/// failed call never returns partial results. Failures are counted in
/// `breakwater_ml_infer_failures_total{reason}`.
public final class MLClient: AlertClassifier {
    /// Where the model is and what its tensors are called.
    public struct Configuration: Sendable {
        /// The server's base URL, e.g. `http://127.0.0.1:8080` (no trailing path).
        public var baseURL: String
        /// The model to call. Default `alert-classifier` (the model deploy/mlserver serves).
        public var modelName: String
        /// The BYTES input tensor's name. Default `alerts`.
        public var inputName: String
        /// Output holding one severity label per alert (BYTES). Default `severity`.
        public var severityOutput: String
        /// Output holding the severity's confidence per alert (FP32/FP64). Default `severity_confidence`.
        public var severityConfidenceOutput: String
        /// Output holding one category label per alert (BYTES). Default `category`.
        public var categoryOutput: String
        /// Output holding the category's confidence per alert (FP32/FP64). Default `category_confidence`.
        public var categoryConfidenceOutput: String
        /// Per-call timeout: until the response head arrives, and again the longest
        /// silence while reading the body. Default 1 s.
        public var timeout: Duration
        /// Largest response body accepted; larger ones fail as ``MLClientError/responseTooLarge(limit:)``.
        /// Default 1 MiB.
        public var maxResponseBytes: Int
        /// Connections kept per host by the pool. Default 8.
        public var maxConnections: Int
        /// How long an idle pooled connection is kept. Default 60 s.
        public var idleConnectionTimeout: Duration

        /// Creates a configuration; every parameter but `baseURL` has the documented default.
        public init(
            baseURL: String,
            modelName: String = "alert-classifier",
            inputName: String = "alerts",
            severityOutput: String = "severity",
            severityConfidenceOutput: String = "severity_confidence",
            categoryOutput: String = "category",
            categoryConfidenceOutput: String = "category_confidence",
            timeout: Duration = .seconds(1),
            maxResponseBytes: Int = 1 << 20,
            maxConnections: Int = 8,
            idleConnectionTimeout: Duration = .seconds(60)
        ) {
            self.baseURL = baseURL
            self.modelName = modelName
            self.inputName = inputName
            self.severityOutput = severityOutput
            self.severityConfidenceOutput = severityConfidenceOutput
            self.categoryOutput = categoryOutput
            self.categoryConfidenceOutput = categoryConfidenceOutput
            self.timeout = timeout
            self.maxResponseBytes = maxResponseBytes
            self.maxConnections = maxConnections
            self.idleConnectionTimeout = idleConnectionTimeout
        }
    }

    /// The configuration this client was created with.
    public let configuration: Configuration
    private let httpClient: HTTPClient
    private let logger: Logger

    /// Creates a client and its connection pool; nothing is sent until the first call.
    public init(configuration: Configuration, logger: Logger = Logger(label: "breakwater.ml")) {
        self.configuration = configuration
        self.logger = logger
        let timeout = TimeAmount(configuration.timeout)
        var http = HTTPClient.Configuration()
        http.timeout = .init(connect: timeout, read: timeout)
        http.connectionPool = .init(
            idleTimeout: TimeAmount(configuration.idleConnectionTimeout),
            concurrentHTTP1ConnectionsPerHostSoftLimit: configuration.maxConnections
        )
        http.redirectConfiguration = .disallow
        self.httpClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: http)
    }

    /// Closes the connection pool. Call once, after the last call has finished.
    /// - Throws: when the pool was already shut down.
    public func shutdown() async throws {
        try await httpClient.shutdown()
    }

    /// The text the model reads for an alert (the Swift twin of
    /// deploy/mlserver/alert_text.py; change both together):
    /// `alertname | summary | description | severity=<source severity> | k=v k=v`, with
    /// absent parts left out and the remaining labels sorted by key.
    public static func text(for alert: Alert) -> String {
        // Written into one string: the parts, the filtered dictionary and each "k=v" as
        // strings of their own were ~2% of the full path's CPU.
        var text = ""
        text.reserveCapacity(256)
        func startPart() {
            if !text.isEmpty { text += " | " }
        }
        func append(_ part: String?) {
            guard let part, !part.isEmpty else { return }
            startPart()
            text += part
        }
        append(alert.alertName)
        append(alert.summary)
        append(alert.description)
        if let severity = alert.sourceSeverity, !severity.isEmpty {
            startPart()
            text += "severity="
            text += severity
        }
        var rest: [(key: String, value: String)] = []
        rest.reserveCapacity(alert.labels.count)
        for label in alert.labels where label.key != "alertname" && label.key != "severity" && !label.value.isEmpty {
            rest.append(label)
        }
        rest.sort { $0.key < $1.key }
        for (index, label) in rest.enumerated() {
            if index == 0 { startPart() } else { text += " " }
            text += label.key
            text += "="
            text += label.value
        }
        return text
    }

    /// Whether the server says it is ready (`GET /v2/health/ready` answers 2xx).
    /// Never throws: any failure, including a timeout, is "not ready".
    public func isReady() async -> Bool {
        await isOK(path: "/v2/health/ready")
    }

    /// Whether the configured model is loaded and ready (`GET /v2/models/{name}/ready`).
    /// Never throws: any failure is "not ready".
    public func isModelReady() async -> Bool {
        await isOK(path: "/v2/models/\(configuration.modelName)/ready")
    }

    /// Classifies the alerts in ONE infer request (an empty batch sends nothing).
    /// - Returns: one ``Classification`` per alert, in order, with `classifier: .ml`.
    /// - Throws: ``MLClientError`` for every kind of failure.
    public func classify(_ alerts: [Alert]) async throws(MLClientError) -> [Classification] {
        guard !alerts.isEmpty else { return [] }
        do {
            let body = try await send(alerts)
            return try decode(body, count: alerts.count)
        } catch {
            Counter(label: MetricNames.mlInferFailures, dimensions: [("reason", error.reason)]).increment()
            logger.debug("inference failed", metadata: ["error": "\(error)", "batch": "\(alerts.count)"])
            throw error
        }
    }

    private func url(_ path: String) throws(MLClientError) -> String {
        var base = configuration.baseURL
        while base.hasSuffix("/") { base.removeLast() }
        let full = base + path
        guard URL(string: full)?.host != nil else { throw .invalidURL(full) }
        return full
    }

    private func isOK(path: String) async -> Bool {
        guard let target = try? url(path) else { return false }
        do {
            let response = try await httpClient.execute(HTTPClientRequest(url: target), timeout: TimeAmount(configuration.timeout))
            _ = try await response.body.collect(upTo: configuration.maxResponseBytes)
            return (200..<300).contains(response.status.code)
        } catch {
            return false
        }
    }

    private func send(_ alerts: [Alert]) async throws(MLClientError) -> ByteBuffer {
        var request = HTTPClientRequest(url: try url("/v2/models/\(configuration.modelName)/infer"))
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: InferenceRequestBody.encode(inputName: configuration.inputName, texts: alerts.map(Self.text(for:)))))
        let response: HTTPClientResponse
        do {
            response = try await httpClient.execute(request, timeout: TimeAmount(configuration.timeout), logger: logger)
        } catch {
            throw classify(transportError: error)
        }
        let body: ByteBuffer
        do {
            body = try await response.body.collect(upTo: configuration.maxResponseBytes)
        } catch is NIOTooManyBytesError {
            throw .responseTooLarge(limit: configuration.maxResponseBytes)
        } catch {
            throw classify(transportError: error)
        }
        guard (200..<300).contains(response.status.code) else {
            throw .httpStatus(code: Int(response.status.code), body: String(buffer: body.getSlice(at: body.readerIndex, length: min(body.readableBytes, 512)) ?? body))
        }
        return body
    }

    private func classify(transportError error: any Error) -> MLClientError {
        if let error = error as? HTTPClientError, error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout {
            return .timeout(configuration.timeout)
        }
        return .transport(String(describing: error))
    }

    private func decode(_ body: ByteBuffer, count: Int) throws(MLClientError) -> [Classification] {
        let response = try InferenceResponseBody(parsing: Array(body.readableBytesView))
        let severities = try labels(configuration.severityOutput, in: response, count: count, as: Severity.self)
        let severityConfidences = try confidences(configuration.severityConfidenceOutput, in: response, count: count)
        let categories = try labels(configuration.categoryOutput, in: response, count: count, as: Category.self)
        let categoryConfidences = try confidences(configuration.categoryConfidenceOutput, in: response, count: count)
        return (0..<count).map { index in
            Classification(
                severity: severities[index],
                category: categories[index],
                // The verdict is as sure as its less sure half.
                confidence: min(severityConfidences[index], categoryConfidences[index]),
                classifier: .ml
            )
        }
    }

    private func output(_ name: String, in response: InferenceResponseBody, count: Int) throws(MLClientError) -> InferenceResponseBody.Output {
        guard let output = response.outputs.first(where: { $0.name == name }) else { throw .missingOutput(name) }
        guard output.shape == [count] || output.shape == [count, 1] else {
            throw .wrongShape(output: name, shape: output.shape, expectedCount: count)
        }
        guard output.data.count == count else {
            throw .wrongLength(output: name, count: output.data.count, expectedCount: count)
        }
        return output
    }

    private func labels<Label: RawRepresentable<String>>(_ name: String, in response: InferenceResponseBody, count: Int, as: Label.Type) throws(MLClientError) -> [Label] {
        let output = try output(name, in: response, count: count)
        guard output.datatype == "BYTES", case let .strings(values) = output.data else {
            throw .wrongType(output: name, detail: "expected BYTES labels, got \(output.datatype)")
        }
        var result: [Label] = []
        result.reserveCapacity(count)
        for value in values {
            guard let label = Label(rawValue: value) else { throw .unknownLabel(output: name, label: value) }
            result.append(label)
        }
        return result
    }

    private func confidences(_ name: String, in response: InferenceResponseBody, count: Int) throws(MLClientError) -> [Double] {
        let output = try output(name, in: response, count: count)
        guard output.datatype == "FP64" || output.datatype == "FP32", case let .numbers(values) = output.data else {
            throw .wrongType(output: name, detail: "expected FP32/FP64 confidences, got \(output.datatype)")
        }
        if let bad = values.first(where: { !(0...1).contains($0) }) {
            throw .wrongType(output: name, detail: "confidence \(bad) outside 0...1")
        }
        return values
    }
}

extension TimeAmount {
    /// The same span as a `Duration`, to nanosecond precision.
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
