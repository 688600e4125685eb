/// Everything that can be wrong with a `layerpack.yml`, each naming the file, line and key at fault
/// and what would be accepted.
public enum ConfigError: Error, CustomStringConvertible, Equatable, DiagnosticConvertible {
    case notFound(path: String)
    /// No `--config`, and no layerpack.yml in `folder` or above it.
    case noneFound(folder: String)
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
    case conflict(file: String, line: Int, keys: [String], reason: String)
    case anchorOrAlias(file: String, line: Int)
    /// `requirements:` or `package_lock:` that cannot be installed as written; `problem` is the whole sentence.
    case dependencies(file: String, line: Int, problem: String)

    public var description: String { diagnostic.description }

    public var diagnostic: Diagnostic { Diagnostic(.error, message, at: location) }

    /// The file, line and column at fault.
    var location: Diagnostic.Location? {
        switch self {
        case .notFound, .noneFound, .unreadable: return nil
        case .syntax(let file, let line, let column, _): return .file(path: file, line: line, column: column)
        case .notAMapping(let file): return .file(path: file, line: 1)
        case .missingKey(let file, _, _), .layoutNeeded(let file, _, _): return .file(path: file, line: nil)
        case .unknownKey(let file, let line, _, _, _), .wrongType(let file, let line, _, _), .invalidValue(let file, let line, _, _, _),
             .tooMany(let file, let line, _, _, _), .tooLong(let file, let line, _, _, _), .requires(let file, let line, _, _),
             .sourceMissing(let file, let line, _, _), .destinationNeeded(let file, let line, _, _), .conflict(let file, let line, _, _),
             .anchorOrAlias(let file, let line), .dependencies(let file, let line, _):
            return .file(path: file, line: line)
        }
    }

    /// What is wrong, in full sentences, without the location.
    var message: String {
        switch self {
        case .notFound(let path):
            return "No layerpack config at `\(path)`. Run `layerpack init` to write one, or pass `--config PATH`."
        case .noneFound(let folder):
            return "There is no layerpack.yml in `\(folder)` or the folders above it (up to the repository's root). Run `layerpack init` to write one, or pass `--config PATH`."
        case .unreadable(let path, let reason):
            return "Could not read the config `\(path)`: \(reason)."
        case .syntax(_, _, _, let problem):
            return "This is not valid YAML: \(problem)."
        case .notAMapping:
            return "The config must be a YAML mapping of keys such as `layer_name:` and `sources:`."
        case .unknownKey(_, _, let key, let suggestion, let accepted):
            let hint = suggestion.map { " Did you mean `\($0)`?" } ?? ""
            return "Unknown key `\(key)`.\(hint) Accepted keys: \(accepted.map { "`\($0)`" }.joined(separator: ", "))."
        case .missingKey(_, let key, let hint):
            return "The required key `\(key)` is missing. \(hint)"
        case .wrongType(_, _, let key, let expected):
            return "`\(key)` must be \(expected)."
        case .invalidValue(_, _, let key, let value, let accepted):
            return "`\(value)` is not a valid `\(key)`. \(accepted)"
        case .tooMany(_, _, let key, let count, let limit):
            return "`\(key)` lists \(count) values; Lambda accepts at most \(limit)."
        case .tooLong(_, _, let key, let length, let limit):
            return "`\(key)` is \(length) characters long; Lambda accepts at most \(limit)."
        case .requires(_, _, let key, let other):
            return "`\(key)` needs `\(other)` to be set as well."
        case .sourceMissing(_, _, let path, let resolved):
            return "The source `\(path)` does not exist (looked for `\(resolved)`; paths are relative to the config file's folder)."
        case .layoutNeeded(_, let reason, let accepted):
            return "\(reason) Set `layout:` to one of \(accepted.map { "`\($0)`" }.joined(separator: ", "))."
        case .destinationNeeded(_, _, let path, let reason):
            return "The source `\(path)` needs a `to:` destination: \(reason)"
        case .conflict(_, _, let keys, let reason):
            return "\(keys.map { "`\($0)`" }.joined(separator: " and ")) cannot be used together: \(reason)"
        case .anchorOrAlias:
            return "YAML anchors and aliases (`&name`, `*name`) are not accepted in a layerpack config: a few lines of them can expand past any memory. Write the values out; an `&` or `*` that starts a word in a value can be written in double quotes as `\\x26` or `\\x2a`."
        case .dependencies(_, _, let problem):
            return problem
        }
    }
}
