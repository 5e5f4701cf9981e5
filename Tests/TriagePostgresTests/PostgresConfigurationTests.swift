import Testing
@testable import TriagePostgres

@Suite struct PostgresConfigurationTests {
    @Test func parsesAFullDSN() throws {
        let configuration = try PostgresConfiguration(
            url: "postgresql://svc%40corp:p%40ss%2Fw0rd@db.internal:6432/catalog?sslmode=require&sslrootcert=/etc/ca.pem&pool_size=4&statement_timeout=1500&connect_timeout=3&operation_timeout=2s"
        )
        #expect(configuration.host == "db.internal")
        #expect(configuration.port == 6432)
        #expect(configuration.username == "svc@corp")
        #expect(configuration.password == "p@ss/w0rd")
        #expect(configuration.database == "catalog")
        #expect(configuration.tls == .require)
        #expect(configuration.caFile == "/etc/ca.pem")
        #expect(configuration.poolSize == 4)
        #expect(configuration.statementTimeout == .milliseconds(1500))
        #expect(configuration.connectTimeout == .seconds(3))
        #expect(configuration.operationTimeout == .seconds(2))
    }

    @Test func defaults() throws {
        let configuration = try PostgresConfiguration(url: "postgres://u:p@127.0.0.1/db")
        #expect(configuration.port == 5432)
        #expect(configuration.tls == .prefer)
        #expect(configuration.poolSize == 10)
        #expect(configuration.statementTimeout == .seconds(2))
        #expect(configuration.connectTimeout == .seconds(2))
        #expect(configuration.operationTimeout == .seconds(5))
        #expect(try PostgresConfiguration(url: "postgres://u@h/db").password == nil)
        #expect(try PostgresConfiguration(url: "postgres://u:p@h/db?statement_timeout=0").statementTimeout == nil)
        #expect(try PostgresConfiguration(url: "postgres://u:p@h/db?sslmode=verify-full").tls == .require)
        #expect(try PostgresConfiguration(url: "postgres://u:p@h/db?sslmode=disable").tls == .disable)
        #expect(try PostgresConfiguration(url: "postgres://u:p@h/db?statement_timeout=250ms").statementTimeout == .milliseconds(250))
    }

    @Test func descriptionMasksThePassword() throws {
        let secret = "s3cr3t-Pa55"
        let configuration = try PostgresConfiguration(url: "postgres://breakwater:\(secret)@127.0.0.1:5433/bw?pool_size=3")
        for text in [configuration.description, configuration.debugDescription, "\(configuration)", String(reflecting: configuration)] {
            #expect(!text.contains(secret))
        }
        #expect(configuration.description.hasPrefix("postgres://breakwater:***@127.0.0.1:5433/bw?sslmode=prefer"))
        #expect(configuration.description.contains("pool_size=3"))
        let noPassword = try PostgresConfiguration(url: "postgres://breakwater@127.0.0.1:5433/bw")
        #expect(noPassword.description.hasPrefix("postgres://breakwater@127.0.0.1:5433/bw?"))
    }

    @Test(arguments: [
        ("mysql://u:p@h/db", "scheme"),
        ("postgres://u:p@/db", "missing host"),
        ("postgres://h/db", "missing user"),
        ("postgres://u:p@h", "database"),
        ("postgres://u:p@h/", "database"),
        ("postgres://u:p@h:0/db", "port"),
        ("postgres://u:p@h/db?sslmode=maybe", "sslmode"),
        ("postgres://u:p@h/db?pool_size=0", "pool_size"),
        ("postgres://u:p@h/db?statement_timeout=soon", "statement_timeout"),
        ("postgres://u:p@h/db?connect_timeout=0", "connect_timeout"),
        ("postgres://u:p@h/db?colour=blue", "unknown parameter `colour`"),
    ])
    func rejectsBadDSNsWithoutLeakingThePassword(url: String, problem: String) {
        #expect {
            try PostgresConfiguration(url: url)
        } throws: { error in
            guard let error = error as? PostgresConfigurationError else { return false }
            return error.description.contains(problem) && !error.description.contains(":p@")
        }
    }

    @Test func unreadableCAFileFailsAtPoolCreation() throws {
        var configuration = try PostgresConfiguration(url: "postgres://u:p@127.0.0.1/db?sslmode=require")
        configuration.caFile = "/nonexistent/ca.pem"
        #expect {
            _ = try PostgresPool(configuration: configuration)
        } throws: { error in
            (error as? PostgresConfigurationError)?.problem.contains("/nonexistent/ca.pem") == true
        }
    }

    @Test func statementTimeoutIsAStartupParameter() throws {
        let configuration = try PostgresConfiguration(url: "postgres://u:p@h/db?statement_timeout=750")
        #expect(configuration.startupParameters.map { "\($0.0)=\($0.1)" } == ["statement_timeout=750"])
        let none = try PostgresConfiguration(url: "postgres://u:p@h/db?statement_timeout=0")
        #expect(none.startupParameters.isEmpty)
    }
}
