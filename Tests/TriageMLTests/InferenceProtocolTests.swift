import Testing
import Triage
@testable import TriageML

@Suite struct InferenceProtocolTests {
    private func parse(_ json: String) throws(MLClientError) -> InferenceResponseBody {
        try InferenceResponseBody(parsing: Array(json.utf8))
    }

    private func malformed(_ json: String) -> String? {
        do {
            _ = try parse(json)
            return nil
        } catch {
            guard case let .malformedResponse(detail) = error else { return "not malformed: \(error)" }
            return detail
        }
    }

    @Test func theRequestIsOneBytesInputOfTheTextsEscaped() throws {
        let texts = ["disk \"full\" on db-1", "line\nbreak", "ünïcode ✓", ""]
        let bytes = InferenceRequestBody.encode(inputName: "alerts", texts: texts)
        let input = try #require(JSONValue.parse(bytes).objectValue?["inputs"]?.arrayValue?.first?.objectValue)
        #expect(input["name"]?.stringValue == "alerts")
        #expect(input["datatype"]?.stringValue == "BYTES")
        #expect(input["shape"] == .array([.number("4")]))
        #expect(input["data"]?.arrayValue?.compactMap(\.stringValue) == texts)
        #expect(String(decoding: bytes, as: UTF8.self).hasPrefix(#"{"inputs":[{"name":"alerts","shape":[4],"datatype":"BYTES","data":["disk \"full\" on db-1","line\nbreak""#))
    }

    @Test func readsStringAndNumberOutputs() throws {
        let body = try parse("""
            {"model_name":"m","outputs":[
              {"name":"severity","shape":[2,1],"datatype":"BYTES","data":["high","low"]},
              {"name":"severity_confidence","shape":[2],"datatype":"FP32","data":[0.8999999761581421,1E-2]},
              {"name":"none","shape":[0],"datatype":"BYTES","data":[]}]}
            """)
        #expect(body.outputs.map(\.name) == ["severity", "severity_confidence", "none"])
        #expect(body.outputs[0].shape == [2, 1])
        guard case let .strings(labels) = body.outputs[0].data, case let .numbers(numbers) = body.outputs[1].data,
              case let .strings(empty) = body.outputs[2].data
        else {
            Issue.record("wrong tensor kinds: \(body.outputs.map(\.data))")
            return
        }
        #expect(labels == ["high", "low"])
        #expect(numbers == [0.8999999761581421, 0.01])
        #expect(empty.isEmpty)
    }

    @Test func anythingElseIsMalformedAndSaysWhere() {
        #expect(malformed("<html>proxy error</html>")?.contains("at byte 0") == true)
        #expect(malformed(#"{"error":"nothing"}"#) == "no outputs array")
        #expect(malformed(#"{"outputs":[1]}"#) == "outputs[0] is not an object")
        #expect(malformed(#"{"outputs":[{"name":"a","datatype":"FP32","shape":[1.5],"data":[1]}]}"#)
            == "outputs[0].shape holds 1.5, not an integer")
        #expect(malformed(#"{"outputs":[{"name":"a","datatype":"FP32","shape":[2],"data":[1,"x"]}]}"#)
            == "outputs[0].data mixes numbers with string")
        #expect(malformed(#"{"outputs":[{"name":"a","datatype":"BYTES","shape":[1],"data":[null]}]}"#)
            == "outputs[0].data holds null, not strings or numbers")
        #expect(malformed(#"{"outputs":[{"datatype":"BYTES","shape":[1],"data":["a"]}]}"#) == "outputs[0].name is not a string")
    }
}
