import Foundation

#if !FUZZING
    /// `guardrail-fuzz FILE…`: each file through the fuzzer's entry point, to reproduce a finding
    /// without the fuzzer (under the debugger, or in a plain build).
    @main
    struct Replay {
        static func main() {
            for path in CommandLine.arguments.dropFirst() {
                guard let data = FileManager.default.contents(atPath: path) else {
                    FileHandle.standardError.write(Data("guardrail-fuzz: cannot read \(path)\n".utf8))
                    exit(2)
                }
                _ = data.withUnsafeBytes { fuzzMedia($0.baseAddress, $0.count) }
                print("\(path): no crash")
            }
            try? FileManager.default.removeItem(atPath: scratch)
        }
    }
#endif

#if FUZZING
    /// libFuzzer's driver (in the runtime `-sanitize=fuzzer` links).
    @_silgen_name("LLVMFuzzerRunDriver")
    func runFuzzerDriver(
        _ argc: UnsafeMutablePointer<Int32>,
        _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
        _ callback: @convention(c) (UnsafeRawPointer?, Int) -> Int32
    ) -> Int32

    /// SwiftPM links an executable's entry point under this name; under the fuzzer it hands over to
    /// libFuzzer's driver with the command line.
    @_cdecl("guardrail_fuzz_main")
    func fuzzerEntryPoint(
        _ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
    ) -> Int32 {
        var count = argc
        var arguments = argv
        return runFuzzerDriver(&count, &arguments) { start, size in fuzzMedia(start, size) }
    }
#endif
