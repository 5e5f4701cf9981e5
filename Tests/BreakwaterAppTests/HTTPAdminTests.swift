import Foundation
import Triage
import Hummingbird
import Resilience
import Testing

@testable import BreakwaterApp

@Suite struct HTTPAdminAuthTests {
    /// One request per admin route that would change something if it got through.
    static let mutations: [(HTTPRequest.Method, String, String?)] = [
        (.post, HTTPRoutes.adminBreaker("ml", .forceOpen), #"{"reason":"x"}"#),
        (.post, HTTPRoutes.adminBreaker("catalog", .forceClose), nil),
        (.post, HTTPRoutes.adminBreaker("dedup", .reset), nil),
        (.put, HTTPRoutes.adminFeature(FeatureName.mlClassification), #"{"enabled":false}"#),
        (.put, HTTPRoutes.adminReadOnly, #"{"enabled":true}"#),
    ]
    static let reads: [String] = [HTTPRoutes.adminBreakers, HTTPRoutes.adminFeature(FeatureName.mlClassification), HTTPRoutes.adminReadOnly, HTTPRoutes.adminHeal]

    @Test func withoutATokenTheAdminRoutesDoNotExist() async throws {
        let fixture = try HTTPFixture()
        for token in [nil, ""] as [String?] {
            let statuses = try await fixture.withServer(adminToken: token) { client in
                var statuses: [Int] = []
                for (method, path, body) in Self.mutations {
                    statuses.append(try await client.request(method, path, token: testAdminToken, body: body).status.code)
                }
                for path in Self.reads {
                    statuses.append(try await client.request(.get, path, token: testAdminToken).status.code)
                }
                // Health and metrics are still served.
                statuses.append(try await client.request(.get, HTTPRoutes.live).status.code)
                return statuses
            }
            #expect(statuses == Array(repeating: 404, count: Self.mutations.count + Self.reads.count) + [200])
        }
        try expectNothingChanged(fixture)
    }

    @Test(arguments: [
        nil,  // no Authorization header
        "Bearer test-admin-token-0123456789abcdeX",  // same length, last byte differs
        "Bearer test-admin-token",  // a prefix
        "Bearer \(testAdminToken)extra",  // longer
        "Basic \(testAdminToken)",  // another scheme
        "Bearer",  // no credentials
        testAdminToken,  // no scheme
    ])
    func aMissingOrWrongTokenIs401AndChangesNothing(authorization: String?) async throws {
        let fixture = try HTTPFixture()
        let responses = try await fixture.withServer { client in
            var responses: [LiveResponse] = []
            for (method, path, body) in Self.mutations {
                responses.append(try await client.request(method, path, authorization: authorization, body: body))
            }
            for path in Self.reads {
                responses.append(try await client.request(.get, path, authorization: authorization))
            }
            return responses
        }
        for response in responses {
            #expect(response.status == .unauthorized)
            #expect(response.headers[.wwwAuthenticate] == #"Bearer realm="breakwater-admin""#)
            #expect(try response.decode(ErrorBody.self).error == "a valid bearer token is required")
        }
        try expectNothingChanged(fixture)
    }

    @Test func theSchemeIsCaseInsensitive() async throws {
        let fixture = try HTTPFixture()
        let status = try await fixture.withServer { client in
            try await client.request(.post, HTTPRoutes.adminBreaker("ml", .forceOpen), authorization: "bearer  \(testAdminToken)").status
        }
        #expect(status == .ok)
        #expect(fixture.breakers.breaker(named: "ml").state == .forcedOpen)
    }

    @Test func constantTimeComparison() {
        typealias Middleware = CredentialsMiddleware<BasicRequestContext>
        let expected = Array("secret-token".utf8)
        #expect(Middleware.constantTimeEquals(Array("secret-token".utf8), expected))
        #expect(!Middleware.constantTimeEquals(Array("secret-tokeN".utf8), expected))
        #expect(!Middleware.constantTimeEquals(Array("secret-token-".utf8), expected))
        #expect(!Middleware.constantTimeEquals(Array("secret".utf8), expected))
        #expect(!Middleware.constantTimeEquals([], expected))
        #expect(!Middleware.constantTimeEquals([], []))  // an empty token never authenticates
        // A presented token that repeats the expected one is still wrong.
        #expect(!Middleware.constantTimeEquals(Array("secret-tokensecret-token".utf8), expected))
    }

    @Test func bearerHeaderParsing() {
        typealias Middleware = CredentialsMiddleware<BasicRequestContext>
        #expect(Middleware.credentials(in: "Bearer abc", scheme: "bearer") == "abc")
        #expect(Middleware.credentials(in: "  BEARER   abc", scheme: "bearer") == "abc")
        #expect(Middleware.credentials(in: "Bearer ", scheme: "bearer") == nil)
        #expect(Middleware.credentials(in: "Basic abc", scheme: "bearer") == nil)
        #expect(Middleware.credentials(in: "abc", scheme: "bearer") == nil)
        #expect(Middleware.credentials(in: nil, scheme: "bearer") == nil)
    }

    private func expectNothingChanged(_ fixture: HTTPFixture, sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(fixture.breakers.snapshots().map(\.state) == [.closed, .closed, .closed], sourceLocation: sourceLocation)
        #expect(fixture.features.isEnabled(FeatureName.mlClassification), sourceLocation: sourceLocation)
        #expect(!fixture.dedup.isReadOnly, sourceLocation: sourceLocation)
    }
}

@Suite struct HTTPAdminBreakerTests {
    @Test func listsEverySnapshotSortedByName() async throws {
        let fixture = try HTTPFixture()
        let response = try await fixture.withServer { try await $0.admin(.get, HTTPRoutes.adminBreakers) }
        #expect(response.status == .ok)
        #expect(response.headers[.contentType] == "application/json; charset=utf-8")
        let list = try response.decode(BreakerListBody.self)
        #expect(list.breakers.map(\.name) == ["catalog", "dedup", "ml"])
        #expect(list.breakers.allSatisfy { $0.state == "closed" && $0.health == "healthy" && $0.forcedReason == nil })
    }

    @Test func forceOpenForceCloseAndReset() async throws {
        let fixture = try HTTPFixture()
        let ml = fixture.breakers.breaker(named: "ml")
        let steps = try await fixture.withServer { client in
            var steps: [(Int, BreakerSnapshotBody, CircuitBreakerState)] = []
            func step(_ action: HTTPRoutes.BreakerAction, body: String? = nil) async throws {
                let response = try await client.admin(.post, HTTPRoutes.adminBreaker("ml", action), body: body)
                steps.append((response.status.code, try response.decode(BreakerSnapshotBody.self), ml.state))
            }
            try await step(.forceOpen, body: #"{"reason":"ML rollout, INC-42"}"#)
            try await step(.forceClose)
            try await step(.reset)
            try await step(.forceOpen)  // no body: a default reason
            try await step(.forceOpen, body: #"{}"#)
            return steps
        }
        #expect(steps.map(\.0) == [200, 200, 200, 200, 200])
        #expect(steps.map(\.1.state) == ["forced_open", "disabled", "closed", "forced_open", "forced_open"])
        #expect(steps.map(\.2) == [.forcedOpen, .disabled, .closed, .forcedOpen, .forcedOpen])
        #expect(steps[0].1.forcedReason == "ML rollout, INC-42")
        #expect(steps[0].1.health == "unhealthy")
        #expect(steps[3].1.forcedReason == "forced open by an operator")
        #expect(steps[4].1.forcedReason == "forced open by an operator")
        // The other breakers were not touched.
        #expect(fixture.breakers.breaker(named: "catalog").state == .closed)
    }

    @Test func unknownBreakerIs404WithAJSONError() async throws {
        let fixture = try HTTPFixture()
        let responses = try await fixture.withServer { client in
            var responses: [LiveResponse] = []
            for action in HTTPRoutes.BreakerAction.allCases {
                responses.append(try await client.admin(.post, HTTPRoutes.adminBreaker("nope", action), body: #"{"reason":"x"}"#))
            }
            return responses
        }
        for response in responses {
            #expect(response.status == .notFound)
            #expect(try response.decode(ErrorBody.self).error == "no circuit breaker named 'nope'")
        }
        #expect(fixture.breakers.existingBreaker(named: "nope") == nil)
    }

    @Test func aBadForceOpenBodyIs400AndChangesNothing() async throws {
        let fixture = try HTTPFixture()
        let responses = try await fixture.withServer { client in
            [
                try await client.admin(.post, HTTPRoutes.adminBreaker("ml", .forceOpen), body: "{not json"),
                try await client.admin(.post, HTTPRoutes.adminBreaker("ml", .forceOpen), body: #"{"reason":42}"#),
            ]
        }
        #expect(responses.map(\.status) == [.badRequest, .badRequest])
        #expect(try responses[0].decode(ErrorBody.self).error == "invalid JSON body: not valid JSON")
        #expect(try responses[1].decode(ErrorBody.self).error == "invalid JSON body: 'reason' must be of type String")
        #expect(fixture.breakers.breaker(named: "ml").state == .closed)
    }

    @Test func keyedMemberNamesArePercentDecoded() async throws {
        let fixture = try HTTPFixture()
        let keyed = try fixture.breakers.keyedBreakers(named: "catalogByService", keyType: String.self, idleTimeout: .seconds(600))
        let member = keyed.breaker(for: "checkout api")
        let path = HTTPRoutes.adminBreaker(member.name, .forceOpen)
        #expect(path == "/admin/breakers/catalogByService%5Bcheckout%20api%5D/force-open")
        let response = try await fixture.withServer { try await $0.admin(.post, path) }
        #expect(response.status == .ok)
        #expect(try response.decode(BreakerSnapshotBody.self).name == "catalogByService[checkout api]")
        #expect(member.state == .forcedOpen)
    }
}

@Suite struct HTTPAdminFeatureAndReadOnlyTests {
    @Test func featureFlagsCanBeReadAndSet() async throws {
        let fixture = try HTTPFixture()
        let bodies = try await fixture.withServer { client in
            let responses = [
                try await client.admin(.get, HTTPRoutes.adminFeature(FeatureName.mlClassification)),
                try await client.admin(.put, HTTPRoutes.adminFeature(FeatureName.mlClassification), body: #"{"enabled":false}"#),
                try await client.admin(.get, HTTPRoutes.adminFeature(FeatureName.mlClassification)),
                try await client.admin(.put, HTTPRoutes.adminFeature(FeatureName.mlClassification), body: #"{"enabled":true}"#),
            ]
            return try responses.map { ($0.status.code, try $0.decode(FeatureBody.self)) }
        }
        #expect(bodies.map(\.0) == [200, 200, 200, 200])
        #expect(bodies.map(\.1) == [
            FeatureBody(name: FeatureName.mlClassification, enabled: true, offReason: nil),
            FeatureBody(name: FeatureName.mlClassification, enabled: false, offReason: "flag_off"),
            FeatureBody(name: FeatureName.mlClassification, enabled: false, offReason: "flag_off"),
            FeatureBody(name: FeatureName.mlClassification, enabled: true, offReason: nil),
        ])
        #expect(fixture.features.isEnabled(FeatureName.mlClassification))
    }

    @Test func aFeatureIsOffWhileItsBreakerIsOpen() async throws {
        let fixture = try HTTPFixture()
        fixture.breakers.breaker(named: BreakerName.ml).forceOpen(reason: "test")
        let body = try await fixture.withServer { try await $0.admin(.get, HTTPRoutes.adminFeature(FeatureName.mlClassification)) }
        #expect(try body.decode(FeatureBody.self) == FeatureBody(name: FeatureName.mlClassification, enabled: false, offReason: "circuit_open"))
    }

    @Test func unknownFeatureIs404AndIsNotCreated() async throws {
        let fixture = try HTTPFixture()
        let responses = try await fixture.withServer { client in
            [
                try await client.admin(.get, HTTPRoutes.adminFeature("nope")),
                try await client.admin(.put, HTTPRoutes.adminFeature("nope"), body: #"{"enabled":true}"#),
            ]
        }
        for response in responses {
            #expect(response.status == .notFound)
            #expect(try response.decode(ErrorBody.self).error == "no feature named 'nope'")
        }
        #expect(fixture.features.offCause("nope") == .unknownFeature)
    }

    @Test(arguments: [
        ("", "a JSON body is required"),
        ("[]", "expected a JSON object"),
        ("{nope", "not valid JSON"),
        (#"{"enabled":"no"}"#, "'enabled' must be true or false"),
        (#"{"enabled":null}"#, "'enabled' must be true or false"),
        (#"{}"#, "missing key 'enabled'"),
    ])
    func aBadEnabledBodyIs400AndChangesNothing(body: String, message: String) async throws {
        let fixture = try HTTPFixture()
        let responses = try await fixture.withServer { client in
            [
                try await client.admin(.put, HTTPRoutes.adminFeature(FeatureName.mlClassification), body: body),
                try await client.admin(.put, HTTPRoutes.adminReadOnly, body: body),
            ]
        }
        for response in responses {
            #expect(response.status == .badRequest)
            let error = try response.decode(ErrorBody.self).error
            #expect([message, "invalid JSON body: \(message)"].contains(error))
        }
        #expect(fixture.features.isEnabled(FeatureName.mlClassification))
        #expect(!fixture.dedup.isReadOnly)
    }

    @Test func aBodyOver64KiBIsRejected() async throws {
        let fixture = try HTTPFixture()
        let padding = String(repeating: " ", count: 70 * 1024)
        let response = try await fixture.withServer {
            try await $0.admin(.put, HTTPRoutes.adminReadOnly, body: #"{"enabled":true}"# + padding)
        }
        #expect(response.status == .contentTooLarge)
        #expect(try response.decode(ErrorBody.self).error == "request body is larger than 64 KiB")
        #expect(!fixture.dedup.isReadOnly)
    }

    @Test func readOnlySwitchDrivesTheDedupService() async throws {
        let fixture = try HTTPFixture()
        let dedup = fixture.dedup
        let bodies = try await fixture.withServer { client in
            var bodies: [ReadOnlyBody] = []
            bodies.append(try await client.admin(.get, HTTPRoutes.adminReadOnly).decode(ReadOnlyBody.self))
            bodies.append(try await client.admin(.put, HTTPRoutes.adminReadOnly, body: #"{"enabled":true}"#).decode(ReadOnlyBody.self))
            #expect(dedup.readOnlyCause == .switchedOn)
            bodies.append(try await client.admin(.put, HTTPRoutes.adminReadOnly, body: #"{"enabled":false}"#).decode(ReadOnlyBody.self))
            // Switched off, but the dedup breaker is open: still read-only, and the answer says why.
            dedup.breaker.forceOpen(reason: "store down")
            bodies.append(try await client.admin(.get, HTTPRoutes.adminReadOnly).decode(ReadOnlyBody.self))
            return bodies
        }
        #expect(bodies == [
            ReadOnlyBody(readOnly: false, reason: nil),
            ReadOnlyBody(readOnly: true, reason: "switched_on"),
            ReadOnlyBody(readOnly: false, reason: nil),
            ReadOnlyBody(readOnly: true, reason: "circuit_open"),
        ])
    }

    @Test func readOnlyIs404WhenTheAppHasNoSwitch() async throws {
        var fixture = try HTTPFixture()
        fixture.exposeReadOnly = false
        let responses = try await fixture.withServer { client in
            [
                try await client.admin(.get, HTTPRoutes.adminReadOnly),
                try await client.admin(.put, HTTPRoutes.adminReadOnly, body: #"{"enabled":true}"#),
            ]
        }
        #expect(responses.map(\.status) == [.notFound, .notFound])
        #expect(try responses[0].decode(ErrorBody.self).error == "read-only mode is not available")
        #expect(!fixture.dedup.isReadOnly)
    }
}
