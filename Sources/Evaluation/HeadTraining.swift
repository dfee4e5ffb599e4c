import Foundation
import GuardrailCore
import GuardrailEngine
import Media

/// `guardrail train-heads` as a library call: one logistic-regression head per category on the
/// unit image embeddings of the train split (a video's: the mean of its sampled frames',
/// normalised again), class weights for imbalance, the L2 strength by stratified k-fold
/// cross-validation.
public struct HeadTraining: Sendable {
    /// A category's head and how it was chosen.
    public struct Head: Sendable {
        public var category: String
        public var model: LogisticRegression
        public var crossValidation: CrossValidatedC
        public var items: Int
        public var unsafeItems: Int
        /// Accuracy on its own training items at probability 0.5.
        public var trainAccuracy: Double
    }

    public var heads: [Head]
    /// Categories without both safe and unsafe items, which get no head.
    public var untrainable: [String]
    /// Train items that could not be embedded: row and reason (left out).
    public var leftOut: [(row: Int, reason: String)]

    /// Trains on `dataset`'s train split with `embedder`, items sampled as `settings` says;
    /// `progress` gets (items done, items in all).
    public init(
        dataset: LabelledDataset, embedder: ImageEmbedder, settings: ScanSettings, folds: Int, seed: UInt64,
        progress: (Int, Int) -> Void = { _, _ in }
    ) {
        let train = dataset.items.indices.filter { dataset.items[$0].split == .train }
        var rows: [Int: [Float]] = [:]
        var leftOut: [(row: Int, reason: String)] = []
        for (done, index) in train.enumerated() {
            progress(done, train.count)
            let item = dataset.items[index]
            do throws(EngineError) {
                rows[index] = try Self.embedding(of: item.file, embedder: embedder, settings: settings)
            } catch {
                leftOut.append((item.row, error.description))
            }
        }
        var heads: [Head] = []
        var untrainable: [String] = []
        for category in Array(Set(train.map { dataset.items[$0].category })).sorted() {
            let members = train.filter { dataset.items[$0].category == category && rows[$0] != nil }
            let labels = members.map { dataset.items[$0].unsafe }
            guard labels.contains(true), labels.contains(false), let first = members.first.flatMap({ rows[$0] }) else {
                untrainable.append(category)
                continue
            }
            let x = members.flatMap { (rows[$0] ?? []).map(Double.init) }
            let cv = CrossValidatedC(x: x, dimension: first.count, labels: labels, folds: folds, seed: seed)
            let model = LogisticRegression(x: x, dimension: first.count, labels: labels, c: cv.c)
            let correct = zip(model.probabilities(x), labels).filter { ($0 >= 0.5) == $1 }.count
            heads.append(
                Head(
                    category: category, model: model, crossValidation: cv, items: labels.count,
                    unsafeItems: labels.filter { $0 }.count, trainAccuracy: Double(correct) / Double(labels.count)))
        }
        (self.heads, self.untrainable, self.leftOut) = (heads, untrainable, leftOut)
    }

    /// The heads file's contents, for the model the embedder runs and this training set; nil when
    /// no head could be trained.
    public func linearHeads(embedder: ImageEmbedder, dataset: LabelledDataset) -> LinearHeads? {
        guard !heads.isEmpty else { return nil }
        return LinearHeads(
            categories: heads.map(\.category), weight: heads.map(\.model.weight), bias: heads.map(\.model.bias),
            modelSHA256: embedder.bundle.sha256, trainingSetSHA256: dataset.sha256, c: heads.map(\.crossValidation.c))
    }

    /// One item's unit embedding: its sampled frames' mean, normalised.
    private static func embedding(of file: String, embedder: ImageEmbedder, settings: ScanSettings)
        throws(EngineError) -> [Float]
    {
        let source: MediaSource
        do {
            source = try MediaSource(path: file, limits: settings.limits)
        } catch {
            throw EngineError(error)
        }
        let media = try DecodedMedia(
            source, sampling: settings.sampling, shortestSide: embedder.preprocessor.shortestEdge)
        let vectors = try embedder.embeddings(of: media.images, file: file)
        return Vectors.normalized(
            (0..<vectors[0].count).map { j in vectors.reduce(0) { $0 + $1[j] } / Float(vectors.count) })
    }
}
