import Yams

/// The operating system each Lambda runtime runs on and its glibc, from `templates/runtimes.yml`.
public struct RuntimeSystems: Sendable {
    public struct System: Sendable, Equatable {
        public let name: String
        public let glibc: GlibcVersion
    }

    private let systems: [String: System]

    /// The system `runtime` runs on; nil for a runtime the table does not list.
    public func system(for runtime: String) -> System? { systems[runtime] }

    /// The table embedded in this binary from `templates/runtimes.yml`.
    public static let standard = embeddedTable("runtimes.yml", RuntimeSystems.init(yaml:))

    init(yaml: String) throws {
        struct Malformed: Error {}
        guard let root = try Yams.compose(yaml: yaml), let systemNodes = root["systems"]?.mapping,
              let runtimeNodes = root["runtimes"]?.mapping else { throw Malformed() }
        var known: [String: System] = [:]
        for (key, value) in systemNodes {
            guard let id = key.string, let name = value["name"]?.string,
                  let glibc = value["glibc"]?.string.flatMap({ GlibcVersion($0) }) else { throw Malformed() }
            known[id] = System(name: name, glibc: glibc)
        }
        var systems: [String: System] = [:]
        for (key, value) in runtimeNodes {
            guard let id = key.string, let system = known[id], let runtimes = value.sequence?.compactMap(\.string) else { throw Malformed() }
            for runtime in runtimes { systems[runtime] = system }
        }
        self.systems = systems
    }
}
