/// Everything that can be wrong with a `layerpack.yml`, each naming the file, line and key at fault
/// and what would be accepted.
public enum ConfigError: Error, CustomStringConvertible, Equatable {
    case notFound(path: String)
    case unreadable(path: String, reason: String)
    case syntax(file: String, line: Int, column: Int, problem: String)
    case notAMapping(file: String)
    case unknownKey(file: String, line: Int, key: String, suggestion: String?, accepted: [String])
    case missingKey(file: String, key: String, hint: String)
    case wrongType(file: String, line: Int, key: String, expected: String)
    case invalidValue(file: String, line: Int, key: String, value: String, accepted: String)
    case tooMany(file: String, line: Int, key: String, count: Int, limit: Int)
    case tooLong(file: String, line: Int, key: String, length: Int, limit: Int)
    case requires(file: String, line: Int, key: String, other: String)
    case sourceMissing(file: String, line: Int, path: String, resolved: String)
    case layoutNeeded(file: String, reason: String, accepted: [String])
    case destinationNeeded(file: String, line: Int, path: String, reason: String)
    case anchorOrAlias(file: String, line: Int)

    public var description: String {
        switch self {
        case .notFound(let path):
            return "No layerpack config at `\(path)`. Run `layerpack init` to write one, or pass `--config PATH`."
        case .unreadable(let path, let reason):
            return "Could not read the config `\(path)`: \(reason)."
        case .syntax(let file, let line, let column, let problem):
            return "\(file):\(line):\(column): error: This is not valid YAML: \(problem)."
        case .notAMapping(let file):
            return "\(file):1: error: The config must be a YAML mapping of keys such as `layer_name:` and `sources:`."
        case .unknownKey(let file, let line, let key, let suggestion, let accepted):
            let hint = suggestion.map { " Did you mean `\($0)`?" } ?? ""
            return "\(file):\(line): error: Unknown key `\(key)`.\(hint) Accepted keys: \(accepted.map { "`\($0)`" }.joined(separator: ", "))."
        case .missingKey(let file, let key, let hint):
            return "\(file): error: The required key `\(key)` is missing. \(hint)"
        case .wrongType(let file, let line, let key, let expected):
            return "\(file):\(line): error: `\(key)` must be \(expected)."
        case .invalidValue(let file, let line, let key, let value, let accepted):
            return "\(file):\(line): error: `\(value)` is not a valid `\(key)`. \(accepted)"
        case .tooMany(let file, let line, let key, let count, let limit):
            return "\(file):\(line): error: `\(key)` lists \(count) values; Lambda accepts at most \(limit)."
        case .tooLong(let file, let line, let key, let length, let limit):
            return "\(file):\(line): error: `\(key)` is \(length) characters long; Lambda accepts at most \(limit)."
        case .requires(let file, let line, let key, let other):
            return "\(file):\(line): error: `\(key)` needs `\(other)` to be set as well."
        case .sourceMissing(let file, let line, let path, let resolved):
            return "\(file):\(line): error: The source `\(path)` does not exist (looked for `\(resolved)`; paths are relative to the config file's folder)."
        case .layoutNeeded(let file, let reason, let accepted):
            return "\(file): error: \(reason) Set `layout:` to one of \(accepted.map { "`\($0)`" }.joined(separator: ", "))."
        case .destinationNeeded(let file, let line, let path, let reason):
            return "\(file):\(line): error: The source `\(path)` needs a `to:` destination: \(reason)"
        case .anchorOrAlias(let file, let line):
            return "\(file):\(line): error: YAML anchors and aliases (`&name`, `*name`) are not accepted in a layerpack config: a few lines of them can expand past any memory. Write the values out; an `&` or `*` that starts a word in a value can be written in double quotes as `\\x26` or `\\x2a`."
        }
    }
}
