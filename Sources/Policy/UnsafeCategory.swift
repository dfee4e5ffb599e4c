/// The eleven UnsafeBench categories, spelled exactly as the benchmark labels them so that
/// labels map one to one (`docs/algorithms.md`, UnsafeBench §1).
public enum UnsafeCategory: String, CaseIterable, Sendable, Codable {
    case hate = "Hate"
    case harassment = "Harassment"
    case violence = "Violence"
    case selfHarm = "Self-harm"
    case sexual = "Sexual"
    case shocking = "Shocking"
    case illegalActivity = "Illegal activity"
    case deception = "Deception"
    case political = "Political"
    case publicAndPersonalHealth = "Public and personal health"
    case spam = "Spam"
}
