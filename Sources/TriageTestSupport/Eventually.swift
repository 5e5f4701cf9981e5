/// How ``eventually(within:polling:_:)`` waits between two checks.
public enum Polling: Sendable {
    /// Sleeps this long (real time) between checks.
    case every(Duration)
    /// Only yields between checks: for conditions that other tasks make true without
    /// any real time passing (work driven by a manual clock).
    case yielding
}

/// Checks `condition` until it holds, at most `limit` (real time); returns whether it did.
///
/// The limit is a deadline, not a timing assertion: pick it generously and assert the
/// result (`#expect(await eventually { … })`).
public func eventually(
    within limit: Duration = .seconds(60),
    polling: Polling = .every(.milliseconds(50)),
    _ condition: () async throws -> Bool
) async rethrows -> Bool {
    let deadline = ContinuousClock.now + limit
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        switch polling {
        case .every(let interval): try? await Task.sleep(for: interval)
        case .yielding: await Task.yield()
        }
    }
    return try await condition()
}

/// Runs `operation` until it returns instead of throwing, at most `limit` (real time),
/// and returns its result; for set-up that must get through a recovering dependency.
/// - Throws: The last attempt's error when no attempt succeeded in time.
public func eventuallySucceeding<T>(
    within limit: Duration = .seconds(60),
    polling: Polling = .every(.milliseconds(50)),
    _ operation: () async throws -> T
) async throws -> T {
    var last: Result<T, any Error> = .failure(CancellationError())
    _ = await eventually(within: limit, polling: polling) {
        do {
            last = .success(try await operation())
            return true
        } catch {
            last = .failure(error)
            return false
        }
    }
    return try last.get()
}
