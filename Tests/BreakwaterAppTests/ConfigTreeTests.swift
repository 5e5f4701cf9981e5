@testable import BreakwaterApp
import Testing

@Suite("Configuration tree encoder")
struct ConfigTreeTests {
    struct IntList: Encodable { var values = [1, 2] }
    struct NestedList: Encodable { var values = [["a"]] }
    struct ListOfStructs: Encodable {
        struct Item: Encodable { var name = "x" }
        var items = [Item()]
    }

    @Test func rejectsShapesAConfigurationCannotHave() {
        #expect(throws: EncodingError.self) { try ConfigTreeEncoder.encode(IntList()) }
        #expect(throws: EncodingError.self) { try ConfigTreeEncoder.encode(NestedList()) }
        #expect(throws: EncodingError.self) { try ConfigTreeEncoder.encode(ListOfStructs()) }
    }

    @Test func recordsUnsetOptionalsKindsAndSensitivity() throws {
        let tree = try ConfigTreeEncoder.encode(BreakwaterConfiguration())
        guard case .leaf(let token) = tree.node(at: ["http", "adminToken"]) else {
            Issue.record("http.adminToken is not a leaf")
            return
        }
        #expect(token == ConfigLeaf(kind: .string, value: .null, optional: true, sensitivity: .secret))
        guard case .leaf(let url) = tree.node(at: ["catalog", "postgresURL"]),
              case .leaf(let port) = tree.node(at: ["http", "port"]),
              case .leaf(let rate) = tree.node(at: ["breakers", "ml", "failureRateThreshold"]),
              case .leaf(let names) = tree.node(at: ["ml", "outputNames"])
        else {
            Issue.record("expected leaves")
            return
        }
        #expect(url.sensitivity == .url)
        #expect(url.value == .scalar("postgres://breakwater@127.0.0.1:5432/breakwater"))
        #expect(port.kind == .integer && port.value == .scalar("8080"))
        #expect(rate.kind == .number && rate.value == .scalar("0.5"))
        #expect(names.kind == .list && names.value == .list(["severity", "severity_confidence", "category", "category_confidence"]))
        #expect(tree.node(at: ["kafka", "properties"]) == .dictionary([:]))
    }

    @Test func secretsEncodeTheirValueOnlyForTheTreeEncoder() throws {
        var config = BreakwaterConfiguration()
        config.http.adminToken = Secret("tree-only-secret-value")
        let tree = try ConfigTreeEncoder.encode(config)
        guard case .leaf(let token) = tree.node(at: ["http", "adminToken"]) else {
            Issue.record("http.adminToken is not a leaf")
            return
        }
        #expect(token.value == .scalar("tree-only-secret-value"))
        #expect(token.optional)
        #expect(token.sensitivity == .secret)
    }
}
