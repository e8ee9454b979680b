import Synchronization

/// A function a part is given after it is built (by a part made later), kept behind a lock and
/// called outside it.
///
/// Held in a struct, not as a bare closure: a closure kept in a generic lock box and read
/// through its `inout` accessor is converted to the box's representation and back at each read,
/// and the conversion written back wraps it in more reabstraction thunks every time — a chain
/// that grows with every call. A witness request read one per request: after 27,000 requests a
/// call went through thousands of thunks, and the witness answered 2,500 requests/s, not 9,700.
final class LateHook<Input: Sendable, Output: Sendable>: Sendable {
    private struct Held: Sendable {
        let function: @Sendable (Input) -> Output
    }
    private let held = Mutex<Held?>(nil)

    init() {}

    func set(_ function: @escaping @Sendable (Input) -> Output) {
        held.withLock { $0 = Held(function: function) }
    }

    /// The function's answer for `input`, or nil while none is set.
    func callAsFunction(_ input: Input) -> Output? {
        guard let held = held.withLock({ $0 }) else { return nil }
        return held.function(input)
    }
}
