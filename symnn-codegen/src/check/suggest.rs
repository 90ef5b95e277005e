//! "Did you mean": the candidate closest to a misspelt name.

/// The candidate closest to `name`, if close enough to be a likely typo.
pub(super) fn suggest<'n>(
    name: &str,
    candidates: impl Iterator<Item = &'n str>,
) -> Option<&'n str> {
    let limit = name.chars().count().max(3) / 3;
    let mut sorted_name: Vec<char> = name.chars().collect();
    sorted_name.sort_unstable();
    let mut best: Option<(usize, &'n str)> = None;
    for candidate in candidates {
        if candidate == name {
            continue;
        }
        if candidate.to_lowercase() == name.to_lowercase() {
            return Some(candidate);
        }
        let mut distance = edit_distance(name, candidate);
        // Keep at least one character in common: `x` is no typo of `y`.
        if distance > limit || distance >= name.chars().count() {
            let mut sorted: Vec<char> = candidate.chars().collect();
            sorted.sort_unstable();
            if sorted != sorted_name {
                continue;
            }
            distance = limit + 1;
        }
        if best.is_none_or(|(d, b)| (distance, candidate) < (d, b)) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, b)| b)
}

/// Optimal-string-alignment distance: insertions, deletions, substitutions and
/// transpositions of adjacent characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let width = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * width];
    for i in 0..=a.len() {
        d[i * width] = i;
    }
    for (j, cell) in d.iter_mut().enumerate().take(width) {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[(i - 1) * width + j] + 1)
                .min(d[i * width + j - 1] + 1)
                .min(d[(i - 1) * width + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[(i - 2) * width + j - 2] + 1);
            }
            d[i * width + j] = best;
        }
    }
    d[a.len() * width + b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtins;

    #[test]
    fn suggestions() {
        assert_eq!(suggest("w31", ["w13", "w0"].into_iter()), Some("w13"));
        assert_eq!(suggest("sigmod", builtins::names()), Some("sigmoid"));
        assert_eq!(suggest("x", ["y", "zz"].into_iter()), None);
        assert_eq!(suggest("x", ["y", "X"].into_iter()), Some("X"));
        assert_eq!(suggest("ab", ["ba"].into_iter()), Some("ba"));
        assert_eq!(suggest("weights", ["bias", "x"].into_iter()), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("ab", "ba"), 1);
    }
}
