// Decoding throughput of AlertDecoder against a baseline measured in the same run:
// Foundation's JSONSerialization merely parsing the same bytes (no format detection, no
// normalization, no limits). Reports the ratio decoder-time / baseline-time, so the number
// means the same on any machine, plus absolute records/s for context. Also times the
// encode of IncidentRecords, against JSONEncoder on the same records (what jsonBytes()
// used before JSONByteWriter), and the malformed corpus (reject path).
import Foundation
import Triage
import TriageTestSupport

let recordCount = 5000
let rounds = 5

var samples = SampleAlerts(seed: 1)
let records = samples.records(count: recordCount)
let malformed = MalformedAlerts.corpus(seed: 1).filter { $0.value.count < 200_000 }
let decoder = AlertDecoder()
let clock = ContinuousClock()

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

/// Best of `rounds` runs of `body`, in seconds.
func best(_ body: () throws -> Int) rethrows -> (Double, Int) {
    var fastest = Double.infinity
    var check = 0
    for _ in 0..<rounds {
        var result = 0
        let elapsed = try clock.measure { result = try body() }
        fastest = min(fastest, seconds(elapsed))
        check = result
    }
    return (fastest, check)
}

let (baseline, parsed) = try best {
    var count = 0
    for record in records {
        if try JSONSerialization.jsonObject(with: Data(record.value)) is [String: Any] { count += 1 }
    }
    return count
}
let (decode, alerts) = try best {
    var count = 0
    for record in records { count += try decoder.decode(record.inputRecord).count }
    return count
}
let (reject, rejected) = best {
    var count = 0
    for record in malformed {
        do { _ = try decoder.decode(record.inputRecord) } catch { count += 1 }
    }
    return count
}
let decodedAlerts = try records.flatMap { try decoder.decode($0.inputRecord) }
// Built once, outside the timing, so both encoders below are timed on the encode alone.
let incidents = decodedAlerts.map { alert in
    IncidentRecord(
        alert: alert, enrichment: ServiceInfo.unowned(alert.serviceName ?? "unknown"),
        classification: Classification(severity: .medium, category: .other, confidence: 0.5, classifier: .rules),
        provenance: IncidentProvenance(enrichment: StepProvenance(source: .static, fallbackUsed: true),
                                       classification: StepProvenance(source: .default, fallbackUsed: true),
                                       dedup: StepProvenance(source: .unavailable, fallbackUsed: true)),
        dedup: .unavailable, workerID: "bench", receivedAt: Date(), processedAt: Date())
}
let (encode, encodedBytes) = try best {
    var bytes = 0
    for record in incidents { bytes += try record.jsonBytes().count }
    return bytes
}
let (jsonEncoder, jsonEncoderBytes) = try best {
    var bytes = 0
    for record in incidents { bytes += try JSONEncoderReference.bytes(record).count }
    return bytes
}

let totalBytes = records.reduce(0) { $0 + $1.value.count }
print("records: \(recordCount) mixed-format (\(totalBytes / recordCount) bytes avg), \(alerts) alerts; best of \(rounds)")
print(String(format: "baseline JSONSerialization parse: %.1f ms (%d parsed)", baseline * 1000, parsed))
print(String(format: "AlertDecoder.decode:              %.1f ms  ratio %.2fx baseline  (%.0f records/s)",
             decode * 1000, decode / baseline, Double(recordCount) / decode))
print(String(format: "malformed corpus reject:          %.1f ms for %d records (%d rejected)", reject * 1000, malformed.count, rejected))
print(String(format: "IncidentRecord.jsonBytes:         %.1f ms for %d records  ratio %.2fx baseline  (%.0f records/s, %d bytes avg)",
             encode * 1000, incidents.count, encode / baseline, Double(incidents.count) / encode, encodedBytes / max(1, incidents.count)))
print(String(format: "JSONEncoder, same records:        %.1f ms  (%.0f records/s)  jsonBytes/JSONEncoder time %.3fx (%.1fx faster)",
             jsonEncoder * 1000, Double(incidents.count) / jsonEncoder, encode / jsonEncoder, jsonEncoder / encode))
if encodedBytes != jsonEncoderBytes {
    print("jsonBytes wrote \(encodedBytes) bytes, JSONEncoder \(jsonEncoderBytes): the outputs differ")
}
