//! "Did you mean …?" suggestions (Levenshtein distance plus case/separator folding).

/// Edit distance between two strings, counting chars. Inputs are capped at 64 chars so the
/// cost stays bounded whatever the input.
#[must_use]
pub fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().take(64).collect();
    let b: Vec<char> = b.chars().take(64).collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        if let Some(c0) = cur.first_mut() {
            *c0 = i + 1;
        }
        for (j, cb) in b.iter().enumerate() {
            let sub = prev.get(j).copied().unwrap_or(0) + usize::from(ca != cb);
            let del = prev.get(j + 1).copied().unwrap_or(0) + 1;
            let ins = cur.get(j).copied().unwrap_or(0) + 1;
            if let Some(c) = cur.get_mut(j + 1) {
                *c = sub.min(del).min(ins);
            }
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev.last().copied().unwrap_or(0)
}

fn fold(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, '-' | '_' | ' '))
        .flat_map(char::to_lowercase)
        .collect()
}

/// The candidate closest to `word`, if it is close enough to be a plausible typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    if word.chars().count() > 64 {
        return None;
    }
    let folded = fold(word);
    let mut best: Option<(usize, &'a str)> = None;
    for c in candidates {
        if c == word {
            continue;
        }
        let d = if fold(c) == folded {
            0
        } else {
            levenshtein(word, c)
        };
        let longest = c.chars().count().max(word.chars().count());
        // One edit in a two-letter word is a different word, not a typo.
        let limit = if longest < 3 { 0 } else { (longest / 3).max(1) };
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(levenshtein("", "abc"), 3);
        assert_eq!(levenshtein("same", "same"), 0);
    }

    #[test]
    fn suggestions() {
        let fields = ["size", "storageIntent", "volumeType", "product"];
        assert_eq!(did_you_mean("storagIntent", fields), Some("storageIntent"));
        assert_eq!(
            did_you_mean("storage_intent", fields),
            Some("storageIntent")
        );
        assert_eq!(did_you_mean("colour", fields), None);
        assert_eq!(
            did_you_mean("featureflag", ["feature-flag", "container"]),
            Some("feature-flag")
        );
    }
}
