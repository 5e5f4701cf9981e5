import Foundation
import Resilience
import Testing
import TriageTestSupport

@Suite("JSON encodings")
struct EncodingTests {
    @Test func snapshotEncodesDurationsAsSeconds() async throws {
        let clock = ManualClock()
        let breaker = try makeBreaker(CircuitBreaker.Configuration(failureThreshold: 1), clock: clock)
        await fail(breaker)
        clock.advance(by: .milliseconds(1500))
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let json = try #require(String(data: try encoder.encode(breaker.snapshot()), encoding: .utf8))
        #expect(json.contains(#""state":"open""#))
        #expect(json.contains(#""health":"unhealthy""#))
        #expect(json.contains(#""timeInStateSeconds":1.5"#))
        #expect(json.contains(#""retryAfterSeconds":58.5"#))
        #expect(!json.contains("forcedReason"))
    }

    @Test func fallbackExecutionEncodesReasonAndStaleAge() throws {
        let execution = FallbackExecution(
            breaker: "db", strategy: "stale_cache", reason: .circuitOpen, result: .success,
            dataAge: .seconds(90), staleAge: .seconds(90), at: .seconds(2)
        )
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let json = try #require(String(data: try encoder.encode(execution), encoding: .utf8))
        #expect(
            json
                == #"{"atSeconds":2,"breaker":"db","dataAgeSeconds":90,"reason":"circuit_open","result":"success","staleAgeSeconds":90,"strategy":"stale_cache"}"#
        )
    }
}
