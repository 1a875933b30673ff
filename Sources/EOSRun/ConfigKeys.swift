import Foundation

/// Strict keys for config files: every key of a user's JSON or YAML config must be one the run
/// uses. A misspelled key (`checkpoint_evry`, `data.nn`) is an error naming it and the nearest
/// known key, and a key the data or model kind does not use (`d` for `npy` data) is an error
/// too — silently ignoring either ran a different experiment than the one written down.
/// (Stored `/run@config` attributes are decoded as before: this applies to files users edit.)
public enum ConfigKeys {
    /// Keys of the top level (`RunConfig.CodingKeys`).
    public static let topLevel = ["data", "model", "init_seed", "init_scale", "learning_rate", "steps", "k",
                                  "spectrum_every", "hessian_every", "checkpoint_every", "cross_check_every",
                                  "gram_every", "divergence_loss", "eigen_tolerance", "store_data_below",
                                  "products", "eigenvalue_threshold", "from", "eigenvectors_stored"]

    /// Keys of each data kind (`DataSpec`).
    public static let dataKinds: [String: [String]] = [
        "fashion-mnist": ["kind", "n", "classes", "seed", "train", "directory", "center", "targets"],
        "fmnist": ["kind", "n", "classes", "seed", "train", "directory", "center", "targets"],
        "synthetic": ["kind", "n", "seed", "d", "rank", "lambda1", "chi", "gap", "decay"],
        "npy": ["kind", "x", "y", "n", "center", "seed"],
        "hdf5": ["kind", "file", "x_dataset", "y_dataset", "n", "center", "seed"],
    ]

    /// Keys of each model kind (`ModelDescription`).
    public static let modelKinds: [String: [String]] = [
        "mlp": ["kind", "input_dim", "widths", "activation", "bias", "output_scale"],
        "two_layer_linear": ["kind", "input_dim", "width"],
    ]

    /// The first problem with the keys of a parsed config (`[String: Any]` from JSON or YAML),
    /// as one line, or nil. Unknown kinds are left to the decoder (which names them).
    public static func problem(in tree: [String: Any]) -> String? {
        if let p = unknown(Array(tree.keys), known: topLevel, prefix: "") { return p }
        for (section, kinds) in [("data", dataKinds), ("model", modelKinds)] {
            guard let sub = tree[section] as? [String: Any] else { continue }
            guard let kind = sub["kind"] as? String, let keys = kinds[kind] else { continue }
            let every = Array(Set(kinds.values.joined())).sorted()
            for key in sub.keys.sorted() where !keys.contains(key) {
                if every.contains(key) {
                    return "key \"\(section).\(key)\" is not used by \(section) kind \"\(kind)\" (its keys: \(keys.filter { $0 != "kind" }.joined(separator: ", ")))"
                }
                return message(section + "." + key, nearest: nearest(key, in: keys).map { section + "." + $0 })
            }
        }
        return nil
    }

    static func unknown(_ keys: [String], known: [String], prefix: String) -> String? {
        for key in keys.sorted() where !known.contains(key) {
            return message(prefix + key, nearest: nearest(key, in: known).map { prefix + $0 })
        }
        return nil
    }

    static func message(_ key: String, nearest: String?) -> String {
        "unknown key \"\(key)\"" + (nearest.map { "; did you mean \"\($0)\"?" } ?? "")
    }

    /// The known key with the smallest edit distance to `key` (ties: first in order), when that
    /// distance is at most half the key's length (otherwise no suggestion).
    public static func nearest(_ key: String, in known: [String]) -> String? {
        var best: (String, Int)?
        for k in known {
            let d = editDistance(key, k)
            if best == nil || d < best!.1 { best = (k, d) }
        }
        guard let b = best, b.1 <= max(2, key.count / 2) else { return nil }
        return b.0
    }

    /// Levenshtein distance (insertions, deletions, substitutions).
    public static func editDistance(_ a: String, _ b: String) -> Int {
        let x = Array(a), y = Array(b)
        if x.isEmpty { return y.count }
        if y.isEmpty { return x.count }
        var prev = Array(0...y.count)
        var cur = [Int](repeating: 0, count: y.count + 1)
        for i in 1...x.count {
            cur[0] = i
            for j in 1...y.count {
                cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1))
            }
            swap(&prev, &cur)
        }
        return prev[y.count]
    }
}
