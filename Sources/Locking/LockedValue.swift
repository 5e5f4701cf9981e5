import Synchronization

#if BREAKWATER_TSAN
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
#endif

/// A value that one thread at a time reads or changes: the lock of every Breakwater
/// module.
///
/// In a normal build it is `Synchronization.Mutex`, inlined, at no extra cost. The
/// Synchronization module ships without ThreadSanitizer instrumentation, so TSan cannot
/// see the ordering its futex-based contended path provides and reports every pair of
/// accesses behind a contended `Mutex` as a race, in our code or anyone's. A sanitizer
/// build (`-DBREAKWATER_TSAN`, passed by `scripts/test-sanitizers thread`) therefore
/// keeps the value behind a `pthread_mutex_t` instead, which TSan intercepts: its
/// reports are then about the code, not the lock.
public struct LockedValue<Value: ~Copyable>: ~Copyable {
    #if BREAKWATER_TSAN
    @usableFromInline let storage: InstrumentedLockStorage<Value>
    #else
    @usableFromInline let mutex: Mutex<Value>
    #endif

    /// A lock around `initialValue`.
    public init(_ initialValue: consuming sending Value) {
        #if BREAKWATER_TSAN
        storage = InstrumentedLockStorage(initialValue)
        #else
        mutex = Mutex(initialValue)
        #endif
    }

    /// Runs `body` with exclusive access to the value and returns what it returns.
    ///
    /// Blocks the calling thread while another holds the lock: keep `body` short and
    /// never suspend or call back into code that takes the same lock (it would
    /// deadlock). An error thrown by `body` is rethrown after the lock is released.
    @inlinable
    public borrowing func withLock<Result: ~Copyable, E: Error>(
        _ body: (inout sending Value) throws(E) -> sending Result
    ) throws(E) -> sending Result {
        #if BREAKWATER_TSAN
        try storage.withLock(body)
        #else
        try mutex.withLock(body)
        #endif
    }
}

extension LockedValue: Sendable where Value: ~Copyable {}

#if BREAKWATER_TSAN
/// The sanitizer build's storage: the value behind a `pthread_mutex_t` at a stable
/// address.
@usableFromInline
final class InstrumentedLockStorage<Value: ~Copyable>: @unchecked Sendable {
    @usableFromInline let lock: UnsafeMutablePointer<pthread_mutex_t>
    @usableFromInline var value: Value

    init(_ initialValue: consuming sending Value) {
        lock = .allocate(capacity: 1)
        lock.initialize(to: pthread_mutex_t())
        let status = pthread_mutex_init(lock, nil)
        precondition(status == 0, "pthread_mutex_init failed: \(status)")
        value = initialValue
    }

    deinit {
        pthread_mutex_destroy(lock)
        lock.deallocate()
    }

    @inlinable
    func withLock<Result: ~Copyable, E: Error>(
        _ body: (inout sending Value) throws(E) -> sending Result
    ) throws(E) -> sending Result {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        return try body(&value)
    }
}
#endif
