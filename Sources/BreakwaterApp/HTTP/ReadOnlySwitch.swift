import Resilience

/// What `PUT /admin/read-only` switches: the dedup store's read-only mode.
///
/// The app wires its dedup ``Resilience/DegradedService`` here (it conforms below);
/// tests can use any conforming type.
public protocol ReadOnlySwitch: Sendable {
    /// Turns the operator's read-only switch on or off. Cannot fail.
    func setReadOnly(_ enabled: Bool)
    /// Whether writes are refused now, for any reason (switch on or breaker open).
    var isReadOnly: Bool { get }
    /// Why writes are refused now (e.g. `switched_on`, `circuit_open`), or `nil`.
    var readOnlyReason: String? { get }
}

extension DegradedService: ReadOnlySwitch {
    /// ``DegradedService/enableReadOnly()`` or ``DegradedService/disableReadOnly()``.
    public func setReadOnly(_ enabled: Bool) {
        if enabled { enableReadOnly() } else { disableReadOnly() }
    }

    /// The raw value of ``DegradedService/readOnlyCause``.
    public var readOnlyReason: String? { readOnlyCause?.rawValue }
}
