import Synchronization

/// Why a ``DegradedService`` is read-only.
public enum ReadOnlyCause: String, Sendable, Hashable {
    /// Its breaker is open or forced open.
    case circuitOpen = "circuit_open"
    /// Read-only mode was switched on by hand.
    case switchedOn = "switched_on"
}

/// The error of ``DegradedService/write(_:)``.
public enum DegradedServiceError: Error, Sendable, CustomStringConvertible {
    /// The write was refused because the service is read-only; `execution` is the
    /// per-call fallback record (reason `readOnly`), also emitted as an event.
    case readOnly(service: String, cause: ReadOnlyCause, execution: FallbackExecution)
    /// The write ran through the breaker and failed.
    case breaker(CircuitBreakerError)

    /// A one-line description.
    public var description: String {
        switch self {
        case .readOnly(let service, let cause, _):
            "'\(service)' is in read-only mode (\(cause.rawValue)): writes are rejected"
        case .breaker(let error):
            error.description
        }
    }
}

/// Read-only degradation (the design's `DegradedService`): while its breaker is open or
/// read-only mode is switched on, writes are rejected with a clear error; reads are
/// always served.
public final class DegradedService<Service: Sendable>: Sendable {
    /// The wrapped service.
    public let service: Service
    /// The breaker guarding writes.
    public let breaker: CircuitBreaker
    private let readOnlySwitch = Atomic<Bool>(false)

    /// Wraps `service`; writes go through `breaker`.
    public init(service: Service, breaker: CircuitBreaker) {
        self.service = service
        self.breaker = breaker
    }

    /// Why writes are refused right now, or `nil` when they are allowed.
    public var readOnlyCause: ReadOnlyCause? {
        if breaker.isOpen { return .circuitOpen }
        if readOnlySwitch.load(ordering: .acquiring) { return .switchedOn }
        return nil
    }

    /// Whether writes are refused.
    public var isReadOnly: Bool { readOnlyCause != nil }

    /// Switches read-only mode on.
    public func enableReadOnly() { readOnlySwitch.store(true, ordering: .releasing) }

    /// Switches read-only mode off (writes are still refused while the breaker is open).
    public func disableReadOnly() { readOnlySwitch.store(false, ordering: .releasing) }

    /// Runs a write through the breaker unless the service is read-only.
    /// - Throws: ``DegradedServiceError/readOnly(service:cause:execution:)`` when
    ///   read-only (the write does not run; a fallback event with reason `readOnly` is
    ///   emitted); ``DegradedServiceError/breaker(_:)`` when the breaker rejects it or it fails.
    public func write<T: Sendable>(_ operation: @Sendable (Service) async throws -> T) async throws(DegradedServiceError) -> T {
        if let cause = readOnlyCause {
            let execution = FallbackExecution(
                breaker: breaker.name,
                strategy: "read_only",
                reason: .readOnly,
                result: .failure,
                errorDescription: "writes are rejected in read-only mode (\(cause.rawValue))",
                at: breaker.now
            )
            breaker.report(execution)
            throw .readOnly(service: breaker.name, cause: cause, execution: execution)
        }
        let service = self.service
        do {
            return try await breaker.call { try await operation(service) }
        } catch {
            throw .breaker(error)
        }
    }

    /// Runs a read directly against the service, also while read-only.
    /// - Throws: The operation's own error.
    public func read<T>(_ operation: (Service) async throws -> T) async rethrows -> T {
        try await operation(service)
    }
}
