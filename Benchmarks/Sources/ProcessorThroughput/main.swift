// CPU per alert of the worker's own processing on the rules path, without Kafka: the
// AlertProcessor that `breakwater run` builds (WorkerAssembly, ML and dedup off, the
// catalog breaker open so the static catalog enriches, as in scripts/bench-worker's (b)),
// preparing and encoding single-alert Alertmanager records, and the malloc calls per
// record (each one a free later). A profiling target: run it under `perf record -g` to
// see where the worker's per-alert CPU goes.
// Usage: ProcessorThroughput [records, default 20000] [rounds, default 10]
import BreakwaterApp
import Foundation
import Logging
import MallocCounter
import Triage

let arguments = CommandLine.arguments.dropFirst().compactMap { Int($0) }
let recordCount = arguments.first ?? 20_000
let rounds = arguments.dropFirst().first ?? 10

var configuration = BreakwaterConfiguration()
configuration.ml.enabled = false
configuration.dedup.enabled = false
configuration.catalog.postgresURL = DatabaseURL("postgres://bench:bench@127.0.0.1:1/none")
let assembly = WorkerAssembly(configuration: configuration, logger: Logger(label: "bench"))
let pools = try assembly.makeCatalogPools()
let steps = try assembly.makeSteps(catalogPool: pools.primary, secondaryPool: pools.secondary, mlClient: nil)
try steps.breakers.forceOpen(named: BreakerName.catalog, reason: "bench: the database is unreachable")

var samples = SampleAlerts(seed: 1)
// Like the backlog of scripts/bench-worker: one Alertmanager alert per record, no headers.
let records = samples.records(count: recordCount, formats: [.alertmanagerAlert]).map { InputRecord(value: $0.value) }
let origin = RecordOrigin(topic: "alerts", partition: 0, offset: 0)
let clock = ContinuousClock()
var fastest = Duration.seconds(1_000)
var outputs = 0
var bytes = 0
var allocations: UInt64 = 0
for _ in 0..<rounds {
    outputs = 0
    bytes = 0
    let allocationsBefore = malloc_counter_allocations()
    let elapsed = clock.measure {
        for record in records {
            switch steps.processor.prepare(record, key: nil, origin: origin, receivedAt: Date()) {
            case .done(let outcome):
                outputs += outcome.outputs.count
                bytes += outcome.outputs.reduce(0) { $0 + $1.value.count }
            case .waiting:
                fatalError("a step waited: the rules path must answer without waiting")
            }
        }
    }
    fastest = min(fastest, elapsed)
    allocations = malloc_counter_allocations() - allocationsBefore
}
let seconds = Double(fastest.components.seconds) + Double(fastest.components.attoseconds) / 1e18
print(String(format: "%d records, %d outputs (%d bytes), best of %d: %.2f µs/record (%.0f records/s), %.1f allocations/record",
             records.count, outputs, bytes, rounds, seconds * 1e6 / Double(records.count), Double(records.count) / seconds,
             Double(allocations) / Double(records.count)))
