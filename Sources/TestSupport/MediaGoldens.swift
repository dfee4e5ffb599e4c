import Foundation

/// `fixtures/goldens/media.json`, written by `scripts/gen_media_fixtures.py`.
public struct MediaGoldens: Decodable, Sendable {
    public struct Image: Decodable, Sendable {
        public var width: Int
        public var height: Int
        /// Largest per-channel difference allowed against Pillow (0: exact).
        public var maxAbsDiff: Int
        /// Largest mean per-channel difference allowed against Pillow.
        public var meanAbsDiff: Double
        public var note: String
    }

    public struct Video: Decodable, Sendable {
        public struct Frame: Decodable, Sendable {
            public var t: Double
            public var key: Int
        }

        public var hasVideo: Bool
        public var codec: String?
        public var container: String?
        public var width: Int?
        public var height: Int?
        public var firstFrameBytes: Int?
        public var frames: [Frame]?
    }

    public var images: [String: Image]
    public var video: [String: Video]

    /// Loads the committed goldens.
    public static func load() throws -> MediaGoldens {
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("goldens/media.json")))
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(MediaGoldens.self, from: data)
    }
}
