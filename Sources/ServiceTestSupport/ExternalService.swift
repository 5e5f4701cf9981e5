import Foundation

/// A real service that `scripts/test` starts before `swift test` and announces
/// through an environment variable.
///
/// Tests that need one are enabled with `.enabled(if: ExternalService.kafka.shouldRun)`
/// and read its address with ``require()``. Outside CI a missing variable skips the
/// test (and says so); under `CI=true` the test runs and ``require()`` fails it,
/// because CI must never pass by skipping.
public enum ExternalService: String, Sendable, CaseIterable {
    /// Kafka-protocol bootstrap address, `host:port`.
    case kafka = "BREAKWATER_TEST_KAFKA_BOOTSTRAP"
    /// PostgreSQL connection URL, `postgres://user:password@host:port/db`.
    case postgres = "BREAKWATER_TEST_POSTGRES_URL"
    /// MLServer base URL, `http://host:port`.
    case mlserver = "BREAKWATER_TEST_MLSERVER_URL"
    /// Path of Debian's Alertmanager binary (`prometheus-alertmanager`); tests start their
    /// own instances of it.
    case alertmanager = "BREAKWATER_TEST_ALERTMANAGER"
    /// Path of the local Kafka-protocol broker's binary (noida-db, what `scripts/kafka-up`
    /// runs); tests that stop a broker and bring it back empty start their own.
    case kafkaBroker = "BREAKWATER_TEST_KAFKA_BROKER"

    /// The error thrown when a required service is not announced.
    public struct Missing: Error, CustomStringConvertible {
        public let variable: String
        public var description: String {
            "\(variable) is not set: run the tests through scripts/test, which starts the service and sets it"
        }
    }

    private static var environment: [String: String] { ProcessInfo.processInfo.environment }

    /// Whether this process runs in CI (`CI=true`), where nothing may be skipped.
    public static var isCI: Bool { environment["CI"]?.lowercased() == "true" }

    /// The announced address, or `nil`.
    public var value: String? {
        guard let value = Self.environment[rawValue], !value.isEmpty else { return nil }
        return value
    }

    /// Whether a test that needs this service should run: it is announced, or this is CI.
    /// Prints why when it skips, so a skip is never silent.
    public var shouldRun: Bool {
        if value != nil || Self.isCI { return true }
        print("skipping: \(rawValue) is not set (run scripts/test to start the real service)")
        return false
    }

    /// The announced address.
    /// - Throws: ``Missing`` when the variable is unset or empty.
    public func require() throws -> String {
        guard let value else { throw Missing(variable: rawValue) }
        return value
    }
}
