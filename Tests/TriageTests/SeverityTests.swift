import Testing
@testable import Triage

@Suite struct SeverityTests {
    @Test(arguments: [
        ("critical", Severity.critical), ("CRITICAL", .critical), ("error", .high), ("high", .high),
        ("warning", .medium), ("warn", .medium), ("medium", .medium), ("low", .low),
        ("info", .info), (" Info ", .info),
    ])
    func mapsSourceSeverity(raw: String, expected: Severity) {
        #expect(Severity(sourceSeverity: raw) == expected)
    }

    @Test func unknownSeverityIsNil() {
        #expect(Severity(sourceSeverity: "purple") == nil)
        #expect(Severity(sourceSeverity: "") == nil)
    }

    @Test func sortsMostUrgentFirst() {
        #expect([Severity.info, .critical, .low, .high, .medium].sorted() == [.critical, .high, .medium, .low, .info])
    }

    @Test func serviceNameFallsBackThroughLabels() {
        var alert = Alert(fingerprint: "f", status: .firing, source: .alertmanager, labels: ["job": "api", "component": "db"])
        #expect(alert.serviceName == "api")
        alert.labels["app"] = ""
        #expect(alert.serviceName == "api")
        alert.labels["service"] = "checkout"
        #expect(alert.serviceName == "checkout")
        alert.labels = [:]
        #expect(alert.serviceName == nil)
    }
}
