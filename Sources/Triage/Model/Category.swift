/// What kind of problem an incident is. The raw values are the wire format.
public enum Category: String, Sendable, Codable, CaseIterable {
    case availability
    case latency
    case errors
    case saturation
    case capacity
    case security
    case deployment
    case data
    case other
}
