/// An optional that JSON-encodes as `null` when absent. Synthesized `Encodable` leaves nil keys
/// out; reports keep every key so that scripts can rely on their shape.
@propertyWrapper
public struct NullEncodable<Value: Encodable & Sendable>: Encodable, Sendable {
    public var wrappedValue: Value?

    public init(wrappedValue: Value?) {
        self.wrappedValue = wrappedValue
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        if let wrappedValue { try container.encode(wrappedValue) } else { try container.encodeNil() }
    }
}

extension NullEncodable: Equatable where Value: Equatable {}
extension NullEncodable: Hashable where Value: Hashable {}
