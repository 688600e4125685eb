import Foundation

/// An AWS partition: its regions and the DNS suffix of its endpoints, from `templates/partitions.json`.
public struct Partition: Sendable, Equatable {
    public let id: String
    public let regionPattern: String
    public let dnsSuffix: String

    /// The table embedded from `templates/partitions.json`, in its order (most specific first).
    public static let all: [Partition] = {
        guard let text = EmbeddedTemplates.files["partitions.json"],
              let json = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
              let entries = json["partitions"] as? [[String: String]]
        else { fatalError("templates/partitions.json was not embedded at build time, or is not the expected JSON; rebuild layerpack.") }
        return entries.map { Partition(id: $0["id"] ?? "", regionPattern: $0["regionRegex"] ?? "", dnsSuffix: $0["dnsSuffix"] ?? "") }
    }()

    /// The first partition whose pattern matches `region`; `aws` when none does, so a region newer than
    /// the table still gets AWS's commercial endpoints.
    public static func of(region: String) -> Partition {
        all.first { $0.matches(region) } ?? all.first { $0.id == "aws" }!
    }

    func matches(_ region: String) -> Bool {
        guard let expression = try? NSRegularExpression(pattern: regionPattern) else { return false }
        return expression.firstMatch(in: region, range: NSRange(region.startIndex..., in: region)) != nil
    }
}
