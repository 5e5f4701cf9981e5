import Foundation

// Unknown keys and variables, with a hint at the closest known name.
extension OverlayState {
    func unknownKey(_ key: String, known: [String], source: String) -> ConfigurationProblem {
        let last = key.split(separator: ".").last.map(String.init) ?? key
        let hint: String
        if let match = closest(to: last, among: known) {
            hint = "did you mean `\(match)`?"
        } else if known.isEmpty {
            hint = "this key has no settings below it"
        } else {
            hint = "allowed here: " + known.joined(separator: ", ")
        }
        return ConfigurationProblem(kind: .unknownKey, key: key, value: nil, expected: hint, source: source)
    }

    /// The candidate closest to `word` (ignoring case, `_` and `-`), if close enough to be a typo.
    func closest(to word: String, among candidates: [String]) -> String? {
        func normalized(_ text: String) -> [Character] { Array(text.lowercased().filter { $0 != "_" && $0 != "-" }) }
        let target = normalized(word)
        // A truncated name (`..._BOOTSTRAP` for `..._BOOTSTRAP_SERVERS`) is a likely typo too.
        let extensions = candidates.filter { normalized($0).starts(with: target) && target.count >= 4 }
        if let shortest = extensions.min(by: { $0.count < $1.count }) { return shortest }
        let scored = candidates.map { ($0, editDistance(target, normalized($0))) }
        guard let best = scored.min(by: { $0.1 < $1.1 }), best.1 <= max(1, target.count / 4) else { return nil }
        return best.0
    }

    private func editDistance(_ a: [Character], _ b: [Character]) -> Int {
        var previous = Array(0...b.count)
        for (i, x) in a.enumerated() {
            var current = [i + 1]
            for (j, y) in b.enumerated() {
                current.append(min(previous[j + 1] + 1, current[j] + 1, previous[j] + (x == y ? 0 : 1)))
            }
            previous = current
        }
        return previous[b.count]
    }
}
