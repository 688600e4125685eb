/// Step outputs read back as the GitHub Actions runner reads the file `GITHUB_OUTPUT` names, following
/// its documented format: `name=value` lines, and `name<<DELIMITER` blocks whose value is every line up
/// to the line that is exactly `DELIMITER`. A line ends with `\n` or `\r\n`; empty lines are skipped;
/// a line with `=` before any `<<` is a `name=value` line.
public func readGitHubOutputs(_ text: String) throws -> [(name: String, value: String)] {
    let bytes = Array(text.utf8)
    var position = 0
    /// The next line without its ending, where its content ends, and whether a newline ended it.
    func nextLine() -> (text: String, end: Int, terminated: Bool)? {
        guard position < bytes.count else { return nil }
        let start = position
        guard let newline = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) else {
            position = bytes.count
            return (String(decoding: bytes[start...], as: UTF8.self), bytes.count, false)
        }
        position = newline + 1
        let end = newline > start && bytes[newline - 1] == UInt8(ascii: "\r") ? newline - 1 : newline
        return (String(decoding: bytes[start..<end], as: UTF8.self), end, true)
    }

    var outputs: [(name: String, value: String)] = []
    while let line = nextLine()?.text {
        if line.isEmpty { continue }
        let equals = line.firstRange(of: "="), heredoc = line.firstRange(of: "<<")
        if let equals, heredoc.map({ equals.lowerBound < $0.lowerBound }) ?? true {
            outputs.append((String(line[..<equals.lowerBound]), String(line[equals.upperBound...])))
        } else if let heredoc {
            let delimiter = String(line[heredoc.upperBound...])
            let start = position
            var end = position
            while true {
                guard let next = nextLine() else { throw GitHubOutputsError("the delimiter `\(delimiter)` is never closed") }
                if next.text == delimiter { break }
                guard next.terminated else { throw GitHubOutputsError("the block ends without a newline") }
                end = next.end
            }
            outputs.append((String(line[..<heredoc.lowerBound]), String(decoding: bytes[start..<end], as: UTF8.self)))
        } else {
            throw GitHubOutputsError("the line `\(line)` is neither `name=value` nor `name<<DELIMITER`")
        }
        if outputs.last?.name.isEmpty == true { throw GitHubOutputsError("an output has no name") }
    }
    return outputs
}

public struct GitHubOutputsError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
