import Glibc
import Testing

/// A TCP port on 127.0.0.1 that nothing listens on now (the kernel's pick for port 0). A
/// random port can be one the suite's own connections hold: 32768-60999 are this
/// machine's ephemeral ports.
func freeLocalPort() throws -> Int {
    let socket = try #require(Optional(Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)))
    defer { close(socket) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, length) == 0 && getsockname(socket, $0, &length) == 0 }
    }
    try #require(bound)
    return Int(UInt16(bigEndian: address.sin_port))
}
