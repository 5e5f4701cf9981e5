import BreakwaterApp
import Foundation
import Testing

@Suite("Secret masking")
struct MaskingTests {
    static let secrets = ["saslsecret-1", "keypass-2", "admintoken-0123456789", "dbpass-3", "replicapass-4", "oauth-5"]

    static let environment = [
        "BREAKWATER_KAFKA_SECURITY_PROTOCOL": "sasl_ssl",
        "BREAKWATER_KAFKA_SASL_USERNAME": "svc-user",
        "BREAKWATER_KAFKA_SASL_PASSWORD": "saslsecret-1",
        "BREAKWATER_KAFKA_SSL_KEY_PASSWORD": "keypass-2",
        "BREAKWATER_HTTP_ADMIN_TOKEN": "admintoken-0123456789",
        "BREAKWATER_CATALOG_POSTGRES_URL": "postgres://app:dbpass-3@db:5432/catalog",
        "BREAKWATER_CATALOG_SECONDARY_URL": "postgresql://ro:replicapass-4@replica/catalog?sslmode=require",
        "BREAKWATER_KAFKA_PROPERTIES": "sasl.oauthbearer.client.secret=oauth-5,linger.ms=5",
    ]

    @Test func effectiveValuesNeverShowSecrets() throws {
        let loaded = try loadConfig(environment: Self.environment)
        let text = loaded.maskedDescription + "\n" + loaded.configuration.maskedDescription
        for secret in Self.secrets { #expect(!text.contains(secret), "\(secret) leaked") }
        let values = Dictionary(uniqueKeysWithValues: loaded.effectiveValues.map { ($0.key, $0.value) })
        #expect(values["kafka.sasl.password"] == "********")
        #expect(values["kafka.ssl.keyPassword"] == "********")
        #expect(values["http.adminToken"] == "********")
        #expect(values["catalog.postgresURL"] == "postgres://app:********@db:5432/catalog")
        #expect(values["catalog.secondaryURL"] == "postgresql://ro:********@replica/catalog?sslmode=require")
        #expect(values["kafka.properties.sasl.oauthbearer.client.secret"] == "********")
        #expect(values["kafka.properties.linger.ms"] == "5", "non-secret properties are shown")
        #expect(values["kafka.sasl.username"] == "svc-user", "user names are not secret")
    }

    @Test func secretsAreStillUsable() throws {
        let config = try loadConfig(environment: Self.environment).configuration
        #expect(config.kafka.sasl.password?.value == "saslsecret-1")
        #expect(config.http.adminToken?.value == "admintoken-0123456789")
        #expect(config.catalog.postgresURL.rawValue == "postgres://app:dbpass-3@db:5432/catalog")
    }

    @Test func descriptionsAndForeignEncodersMask() throws {
        let config = try loadConfig(environment: Self.environment).configuration
        let described = "\(config)" + String(describing: config.kafka.sasl.password) + "\(config.catalog.postgresURL)"
        let json = String(decoding: try JSONEncoder().encode(config), as: UTF8.self)
        for secret in Self.secrets.dropLast() {
            #expect(!described.contains(secret), "\(secret) leaked in a description")
            #expect(!json.contains(secret), "\(secret) leaked in JSON")
        }
    }

    @Test func problemsNeverShowSecrets() {
        let found = problems(environment: [
            "BREAKWATER_HTTP_ADMIN_TOKEN": "shortsecret",
            "BREAKWATER_CATALOG_SECONDARY_URL": "mysql://ro:replicapass-4@replica/db",
        ])
        #expect(found.count == 2)
        let text = found.map(\.description).joined()
        #expect(!text.contains("shortsecret"))
        #expect(!text.contains("replicapass-4"))
        #expect(text.contains("mysql://ro:********@replica/db"))
    }

    @Test func unparseableURLIsMaskedWhole() {
        #expect(Sensitivity.url.mask("not a url with pass:word@") == "********")
        #expect(Sensitivity.url.mask("postgres://nopassword@db/x") == "postgres://nopassword@db/x")
    }
}
