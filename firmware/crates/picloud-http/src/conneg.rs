//! Content negotiation: `Accept` with q-values (RFC 9110 §12.5.1).

/// One media range of an `Accept` header.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Range {
    kind: String,
    subtype: String,
    /// q × 1000.
    q: u16,
}

fn parse_q(v: &str) -> u16 {
    let v = v.trim();
    let mut parts = v.splitn(2, '.');
    let int = parts.next().unwrap_or("0");
    let frac = parts.next().unwrap_or("");
    let whole: u16 = match int {
        "1" => 1000,
        "0" | "" => 0,
        _ => return 0,
    };
    let mut milli = 0u16;
    let mut scale = 100u16;
    for c in frac.chars().take(3) {
        match c.to_digit(10) {
            Some(d) => milli += u16::try_from(d).unwrap_or(0) * scale,
            None => return 0,
        }
        scale /= 10;
    }
    (whole + milli).min(1000)
}

fn parse(accept: Option<&str>) -> Vec<Range> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return vec![Range {
            kind: "*".into(),
            subtype: "*".into(),
            q: 1000,
        }];
    };
    let mut out = Vec::new();
    for item in accept.split(',') {
        let mut params = item.split(';');
        let media = params.next().unwrap_or("").trim().to_ascii_lowercase();
        let Some((kind, subtype)) = media.split_once('/') else {
            continue;
        };
        let mut q = 1000;
        for p in params {
            if let Some((k, v)) = p.split_once('=') {
                if k.trim().eq_ignore_ascii_case("q") {
                    q = parse_q(v);
                }
            }
        }
        out.push(Range {
            kind: kind.trim().to_owned(),
            subtype: subtype.trim().to_owned(),
            q,
        });
    }
    out
}

/// The q-value `accept` gives `offer` (`type/subtype`), from its most specific matching
/// range; 0 when none matches.
fn quality(ranges: &[Range], offer: &str) -> u16 {
    let (kind, subtype) = offer.split_once('/').unwrap_or((offer, ""));
    let mut best: Option<(u8, u16)> = None;
    for r in ranges {
        let specificity = if r.kind == kind && r.subtype == subtype {
            2
        } else if r.kind == kind && r.subtype == "*" {
            1
        } else if r.kind == "*" && r.subtype == "*" {
            0
        } else {
            continue;
        };
        if best.is_none_or(|(s, _)| specificity > s) {
            best = Some((specificity, r.q));
        }
    }
    best.map_or(0, |(_, q)| q)
}

/// The offer `accept` prefers: highest q-value above zero; on a tie, the earlier offer
/// (the server's preference). A missing or empty header accepts anything.
pub fn choose<'a>(accept: Option<&str>, offers: &[&'a str]) -> Option<&'a str> {
    let ranges = parse(accept);
    let mut best: Option<(&'a str, u16)> = None;
    for offer in offers {
        let q = quality(&ranges, offer);
        if q > 0 && best.is_none_or(|(_, bq)| q > bq) {
            best = Some((offer, q));
        }
    }
    best.map(|(o, _)| o)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFERS: &[&str] = &["application/json", "text/turtle", "application/ld+json"];

    #[test]
    fn q_values_decide() {
        assert_eq!(
            choose(Some("text/turtle;q=0.5, application/ld+json;q=0.9"), OFFERS),
            Some("application/ld+json")
        );
        assert_eq!(choose(Some("text/*"), OFFERS), Some("text/turtle"));
        assert_eq!(choose(None, OFFERS), Some("application/json"));
        assert_eq!(choose(Some("*/*"), OFFERS), Some("application/json"));
        assert_eq!(choose(Some("image/png"), OFFERS), None);
        assert_eq!(choose(Some("text/turtle;q=0"), OFFERS), None);
        assert_eq!(
            choose(Some("*/*;q=0.1, text/turtle;q=0"), OFFERS),
            Some("application/json")
        );
        assert_eq!(
            choose(
                Some("text/html,application/xhtml+xml,*/*;q=0.8"),
                &["a/b", "text/html"]
            ),
            Some("text/html")
        );
        assert_eq!(parse_q("0.123"), 123);
        assert_eq!(parse_q("1.0"), 1000);
        assert_eq!(parse_q("x"), 0);
    }
}
