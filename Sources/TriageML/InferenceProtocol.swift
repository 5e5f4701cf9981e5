import Triage

/// The Open Inference Protocol v2 (KServe, Triton, MLServer) JSON bodies this client
/// sends and reads, only the fields it uses. Written with ``JSONByteWriter`` and read with
/// ``JSONValue`` rather than Foundation's coders, which took ~45% of the ML client's CPU
/// samples on the full path of `scripts/bench-worker`.
enum InferenceRequestBody {
    /// `{"inputs":[{"name":…,"shape":[n],"datatype":"BYTES","data":[…]}]}`: one BYTES
    /// input of `texts`.
    static func encode(inputName: String, texts: [String]) -> [UInt8] {
        JSONByteWriter.bytes(capacity: 128 + texts.reduce(0) { $0 + $1.utf8.count + 3 }) { writer in
            writer.beginObject()
            writer.key("inputs")
            writer.beginArray()
            writer.beginObject()
            writer.key("name")
            writer.string(inputName)
            writer.key("shape")
            writer.beginArray()
            writer.int(texts.count)
            writer.endArray()
            writer.key("datatype")
            writer.string("BYTES")
            writer.key("data")
            writer.stringArray(texts)
            writer.endObject()
            writer.endArray()
            writer.endObject()
        }
    }
}

struct InferenceResponseBody {
    struct Output {
        let name: String
        let shape: [Int]
        let datatype: String
        let data: TensorData
    }

    let outputs: [Output]

    /// Reads a response body.
    /// - Throws: ``MLClientError/malformedResponse(_:)`` when it is not JSON, or `outputs`
    ///   or one of its fields is missing or of the wrong kind.
    init(parsing bytes: [UInt8]) throws(MLClientError) {
        let document: JSONValue
        do {
            document = try JSONValue.parse(bytes)
        } catch {
            throw .malformedResponse(error.description)
        }
        guard let outputs = document.objectValue?["outputs"]?.arrayValue else {
            throw .malformedResponse("no outputs array")
        }
        self.outputs = try outputs.enumerated().map { (index, output) throws(MLClientError) in
            try Output(output, index: index)
        }
    }
}

extension InferenceResponseBody.Output {
    fileprivate init(_ value: JSONValue, index: Int) throws(MLClientError) {
        guard let members = value.objectValue else { throw .malformedResponse("outputs[\(index)] is not an object") }
        guard let name = members["name"]?.stringValue else { throw .malformedResponse("outputs[\(index)].name is not a string") }
        guard let datatype = members["datatype"]?.stringValue else {
            throw .malformedResponse("outputs[\(index)].datatype is not a string")
        }
        guard let dimensions = members["shape"]?.arrayValue else {
            throw .malformedResponse("outputs[\(index)].shape is not an array")
        }
        var shape: [Int] = []
        shape.reserveCapacity(dimensions.count)
        for dimension in dimensions {
            guard case let .number(text) = dimension, let size = Int(text) else {
                throw .malformedResponse("outputs[\(index)].shape holds \(dimension.canonicalText), not an integer")
            }
            shape.append(size)
        }
        guard let elements = members["data"]?.arrayValue else {
            throw .malformedResponse("outputs[\(index)].data is not an array")
        }
        self.init(name: name, shape: shape, datatype: datatype, data: try TensorData(elements, output: index))
    }
}

/// The `data` of one output: strings (BYTES) or numbers; anything else is malformed.
enum TensorData {
    case strings([String])
    case numbers([Double])

    /// All strings (an empty array counts as strings) or all numbers.
    /// - Throws: ``MLClientError/malformedResponse(_:)`` for anything else.
    fileprivate init(_ elements: [JSONValue], output index: Int) throws(MLClientError) {
        if case .number = elements.first {
            var numbers: [Double] = []
            numbers.reserveCapacity(elements.count)
            for element in elements {
                guard case let .number(text) = element, let number = Double(text) else {
                    throw .malformedResponse("outputs[\(index)].data mixes numbers with \(element.typeName)")
                }
                numbers.append(number)
            }
            self = .numbers(numbers)
        } else {
            var strings: [String] = []
            strings.reserveCapacity(elements.count)
            for element in elements {
                guard let text = element.stringValue else {
                    throw .malformedResponse("outputs[\(index)].data holds \(element.typeName), not strings or numbers")
                }
                strings.append(text)
            }
            self = .strings(strings)
        }
    }

    var count: Int {
        switch self {
        case let .strings(values): values.count
        case let .numbers(values): values.count
        }
    }
}
