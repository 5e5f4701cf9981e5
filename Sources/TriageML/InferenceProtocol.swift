/// The Open Inference Protocol v2 (KServe, Triton, MLServer) JSON bodies this client
/// sends and reads. Only the fields it uses.
struct InferenceRequestBody: Encodable {
    struct Input: Encodable {
        let name: String
        let shape: [Int]
        let datatype: String
        let data: [String]
    }

    let inputs: [Input]
}

struct InferenceResponseBody: Decodable {
    struct Output: Decodable {
        let name: String
        let shape: [Int]
        let datatype: String
        let data: TensorData
    }

    let outputs: [Output]
}

/// The `data` of one output: strings (BYTES) or numbers; anything else fails decoding.
enum TensorData: Decodable {
    case strings([String])
    case numbers([Double])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let strings = try? container.decode([String].self) {
            self = .strings(strings)
        } else {
            self = .numbers(try container.decode([Double].self))
        }
    }

    var count: Int {
        switch self {
        case let .strings(values): values.count
        case let .numbers(values): values.count
        }
    }
}
