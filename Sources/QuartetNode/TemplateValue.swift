import Mustache

/// A page's values made ready for swift-mustache: structs become dictionaries (one reflection
/// per value, once, instead of one per `{{name}}` lookup and per enclosing section, which is how
/// swift-mustache finds a struct's fields), arrays are converted element by element, and nil
/// optionals are left out (so a lookup goes on to the enclosing value, as it does for a nil
/// field). Values that answer by name already (`MustacheParent`) and plain values stay as they are.
enum TemplateValue {
    static func of(_ value: Any) -> Any {
        if value is MustacheParent || value is String || value is Bool || value is Int || value is Double { return value }
        let mirror = Mirror(reflecting: value)
        switch mirror.displayStyle {
        case .optional:
            return mirror.children.first.map { of($0.value) } ?? Optional<Any>.none as Any
        case .collection:
            return mirror.children.map { of($0.value) }
        case .struct, .class:
            var fields: [String: Any] = [:]
            for child in mirror.children {
                guard let label = child.label else { continue }
                let field = Mirror(reflecting: child.value)
                if field.displayStyle == .optional {
                    guard let wrapped = field.children.first else { continue }
                    fields[label] = of(wrapped.value)
                } else {
                    fields[label] = of(child.value)
                }
            }
            return fields
        default:
            return value
        }
    }
}
