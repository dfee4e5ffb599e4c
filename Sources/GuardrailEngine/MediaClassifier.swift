import Compute
import Dispatch
import Foundation
import GuardrailCore
import Media
import Synchronization

/// Something that turns an opened image or video into a report: the policy engine, the safety
/// checker. The batch API below runs any of them over files.
public protocol MediaClassifier: Sendable {
    /// Every knob of a scan, including the media limits files are opened with.
    var settings: ScanSettings { get }
    /// Classifies one opened file; `progress` gets the frames done so far.
    func scan(_ source: MediaSource, progress: (Int) -> Void) throws(EngineError) -> ScanReport
}

/// One file's outcome in a batch: its place in the input, its path, and the report or the error.
public struct ScanOutcome: Sendable {
    public var index: Int
    public var path: String
    public var result: Result<ScanReport, EngineError>
}

extension MediaClassifier {
    /// Opens (once) and classifies one file; every failure comes back as an ``EngineError``.
    public func scan(path: String, progress: (Int) -> Void = { _ in }) -> Result<ScanReport, EngineError> {
        do throws(EngineError) {
            let source: MediaSource
            do {
                source = try MediaSource(path: path, limits: settings.limits)
            } catch {
                throw EngineError(error)
            }
            return .success(try scan(source, progress: progress))
        } catch {
            return .failure(error)
        }
    }

    /// Classifies `paths` (folders expanded, see ``MediaFiles/expand(_:)``), `jobs` files at once,
    /// handing each outcome to `deliver` in input order, as soon as it and every one before it are
    /// done. `progress` gets (file index, frames done) from the worker scanning that file.
    /// Above one job, use a ``ComputeConfiguration`` of one thread per forward pass so workers do
    /// not compete for cores.
    public func scan(
        paths: [String], jobs: Int = 1, progress: @escaping @Sendable (Int, Int) -> Void = { _, _ in },
        deliver: @escaping @Sendable (ScanOutcome) -> Void
    ) throws(EngineError) {
        scan(files: try MediaFiles.expand(paths), jobs: jobs, progress: progress, deliver: deliver)
    }

    /// ``scan(paths:jobs:progress:deliver:)`` for files already expanded (``MediaFiles/expand(_:)``).
    public func scan(
        files: [String], jobs: Int = 1, progress: @escaping @Sendable (Int, Int) -> Void = { _, _ in },
        deliver: @escaping @Sendable (ScanOutcome) -> Void
    ) {
        precondition(jobs > 0, "jobs must be positive")
        let order = InOrderDelivery(deliver)
        let scanOne: @Sendable (Int) -> Void = { i in
            let result = self.scan(path: files[i]) { frames in progress(i, frames) }
            order.finish(ScanOutcome(index: i, path: files[i], result: result))
        }
        if jobs > 1 && files.count > 1 {
            let next = NextIndex()
            DispatchQueue.concurrentPerform(iterations: min(jobs, files.count)) { _ in
                while let i = next.take(below: files.count) { scanOne(i) }
            }
        } else {
            for i in files.indices { scanOne(i) }
        }
    }
}

/// Hands outcomes on in input order, whatever order the workers finish in.
private final class InOrderDelivery: Sendable {
    private let deliver: @Sendable (ScanOutcome) -> Void
    /// Outcomes waiting for an earlier one, and the index delivered next.
    private let state = Mutex<(pending: [Int: ScanOutcome], next: Int)>(([:], 0))

    init(_ deliver: @escaping @Sendable (ScanOutcome) -> Void) { self.deliver = deliver }

    func finish(_ outcome: ScanOutcome) {
        state.withLock { state in
            state.pending[outcome.index] = outcome
            while let ready = state.pending.removeValue(forKey: state.next) {
                state.next += 1
                deliver(ready)
            }
        }
    }
}

/// The next file index for `jobs` workers taking files one at a time.
private final class NextIndex: Sendable {
    private let value = Mutex(0)

    func take(below count: Int) -> Int? {
        value.withLock { value in
            guard value < count else { return nil }
            defer { value += 1 }
            return value
        }
    }
}

/// Turning command-line paths into the files to scan.
public enum MediaFiles {
    /// Files below the given paths: files as given, folders walked recursively in name order
    /// (hidden files and folders skipped). Which decoder reads a file is decided later by its
    /// content, never its name. A path that does not exist stays in the list, so its scan reports
    /// it; an empty folder contributes nothing.
    public static func expand(_ paths: [String]) throws(EngineError) -> [String] {
        var files: [String] = []
        let fm = FileManager.default
        for path in paths {
            var isFolder: ObjCBool = false
            guard fm.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue else {
                files.append(path)
                continue
            }
            guard let entries = fm.enumerator(atPath: path) else {
                throw EngineError(.io, file: path, message: "cannot list the folder")
            }
            var found: [String] = []
            while let entry = entries.nextObject() as? String {
                let name = (entry as NSString).lastPathComponent
                let full = path + "/" + entry
                var sub: ObjCBool = false
                guard fm.fileExists(atPath: full, isDirectory: &sub) else { continue }
                if name.hasPrefix(".") {
                    if sub.boolValue { entries.skipDescendants() }
                    continue
                }
                if !sub.boolValue { found.append(full) }
            }
            files += found.sorted()
        }
        return files
    }
}
