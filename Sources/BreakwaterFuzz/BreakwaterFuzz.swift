import Foundation
import FuzzHarnesses

// Built two ways. With `-DFUZZING` and `--sanitize fuzzer` (scripts/fuzz), libFuzzer
// supplies `main` and calls the two exported functions below. Otherwise it is a plain
// tool that replays inputs: `breakwater-fuzz HARNESS PATH...` (a file or a directory of
// files) prints each input's outcome and exits 1 if any broke an invariant.

#if FUZZING

/// The harness named by the first argument; libFuzzer calls one function for all.
nonisolated(unsafe) private var selectedHarness: FuzzHarness?

/// libFuzzer calls this before reading its flags: takes the harness name off the
/// argument list, so `breakwater-fuzz rules CORPUS -max_total_time=60` works.
@_cdecl("LLVMFuzzerInitialize")
public func fuzzerInitialize(
    _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>
) -> CInt {
    let arguments = argv.pointee
    let count = Int(argc.pointee)
    guard count >= 2, let name = arguments[1].map({ String(cString: $0) }), let harness = FuzzHarness(rawValue: name) else {
        let names = FuzzHarness.allCases.map(\.rawValue).joined(separator: "|")
        FileHandle.standardError.write(Data("usage: breakwater-fuzz \(names) [libFuzzer arguments]\n".utf8))
        exit(2)
    }
    selectedHarness = harness
    for index in 1..<count { arguments[index] = arguments[index + 1] }  // argv[argc] is NULL
    argc.pointee -= 1
    return 0
}

/// One input: a broken invariant traps, which libFuzzer records as a crash.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let harness = selectedHarness else { return 0 }
    let input = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    if case .violation(let problem) = harness.run(input) { fatalError("\(harness): \(problem)") }
    return 0
}

#else

@main
struct BreakwaterFuzz {
    static func main() {
        let arguments = CommandLine.arguments.dropFirst()
        guard let name = arguments.first, let harness = FuzzHarness(rawValue: name), arguments.count >= 2 else {
            let names = FuzzHarness.allCases.map(\.rawValue).joined(separator: "|")
            FileHandle.standardError.write(Data("usage: breakwater-fuzz \(names) FILE|DIRECTORY...\n".utf8))
            exit(2)
        }
        var violations = 0
        for path in arguments.dropFirst() {
            for file in inputFiles(path) {
                guard let data = FileManager.default.contents(atPath: file) else {
                    FileHandle.standardError.write(Data("cannot read \(file)\n".utf8))
                    exit(2)
                }
                let outcome = harness.run(Array(data))
                if case .violation = outcome { violations += 1 }
                print("\(file)\t\(outcome)")
            }
        }
        exit(violations == 0 ? 0 : 1)
    }

    /// `path` itself, or the files below it when it is a directory (sorted, without the
    /// `.expected` answers kept beside regression inputs).
    static func inputFiles(_ path: String) -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else { return [path] }
        let names = (try? FileManager.default.subpathsOfDirectory(atPath: path)) ?? []
        return names.sorted().map { "\(path)/\($0)" }.filter { file in
            var nested: ObjCBool = false
            return !file.hasSuffix(".expected") && FileManager.default.fileExists(atPath: file, isDirectory: &nested) && !nested.boolValue
        }
    }
}

#endif
