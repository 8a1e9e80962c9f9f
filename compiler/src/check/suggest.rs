//! "Did you mean": the closest known word to a misspelt one.

/// The candidate closest to `word`, if it is close enough to be a likely
/// typo (rather than a different word).
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let lower = word.to_ascii_lowercase();
    candidates
        .into_iter()
        .filter(|c| *c != word)
        .map(|c| {
            let score = if c.eq_ignore_ascii_case(word) {
                1.0
            } else {
                strsim::jaro_winkler(&lower, &c.to_ascii_lowercase())
            };
            (score, c)
        })
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// "did you mean `x`?" or, when nothing is close, the list of what is
/// allowed (short lists only).
pub fn hint(word: &str, candidates: &[&str]) -> String {
    match (did_you_mean(word, candidates.iter().copied()), candidates) {
        (Some(c), _) => format!("did you mean `{c}`?"),
        (None, [one]) => format!("expected `{one}`"),
        (None, _) => format!("expected one of {}", one_of(candidates)),
    }
}

/// "`a`, `b` or `c`"
pub fn one_of(words: &[&str]) -> String {
    let quoted: Vec<String> = words.iter().map(|w| format!("`{w}`")).collect();
    match quoted.as_slice() {
        [] => "nothing".to_string(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {}", init.join(", "), last),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_typos_not_strangers() {
        let kinds = ["network", "convert", "train", "run"];
        assert_eq!(did_you_mean("netwrok", kinds), Some("network"));
        assert_eq!(did_you_mean("Run", kinds), Some("run"));
        assert_eq!(did_you_mean("banana", kinds), None);
        assert_eq!(hint("zzz", &["a", "b"]), "expected one of `a` or `b`");
    }
}
