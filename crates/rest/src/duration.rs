//! ISO-8601 durations as ONTAP writes them (`P1W`, `PT7M30S`, `P1DT2H3M4S`).

/// Seconds in an ISO-8601 duration. Years count 365 days and months 30 days, which is
/// how ONTAP documents approximate retention periods.
pub fn parse(text: &str) -> Option<u64> {
    let rest = text.strip_prefix('P').or_else(|| text.strip_prefix('p'))?;
    let (date, time) = match rest.split_once(['T', 't']) {
        Some((d, t)) => {
            if t.is_empty() {
                return None;
            }
            (d, Some(t))
        }
        None => (rest, None),
    };
    if date.is_empty() && time.is_none() {
        return None;
    }
    let mut total: u64 = 0;
    let mut add = |part: &str, units: &[(char, u64)]| -> Option<()> {
        let mut number = String::new();
        let mut last_unit = 0usize;
        for ch in part.chars() {
            if ch.is_ascii_digit() {
                number.push(ch);
                continue;
            }
            let pos = units
                .iter()
                .position(|(u, _)| u.eq_ignore_ascii_case(&ch))?;
            // Units must appear in order and at most once, each after a number.
            if pos < last_unit || number.is_empty() {
                return None;
            }
            last_unit = pos + 1;
            let n: u64 = number.parse().ok()?;
            total = total.checked_add(n.checked_mul(units[pos].1)?)?;
            number.clear();
        }
        number.is_empty().then_some(())
    };
    add(
        date,
        &[
            ('Y', 365 * 86400),
            ('M', 30 * 86400),
            ('W', 7 * 86400),
            ('D', 86400),
        ],
    )?;
    if let Some(t) = time {
        add(t, &[('H', 3600), ('M', 60), ('S', 1)])?;
    }
    Some(total)
}

/// The canonical form of a number of seconds (`0` is `PT0S`).
pub fn format(seconds: u64) -> String {
    if seconds == 0 {
        return "PT0S".to_string();
    }
    let (days, rem) = (seconds / 86400, seconds % 86400);
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    let mut out = String::from("P");
    if days > 0 {
        out.push_str(&format!("{days}D"));
    }
    if rem > 0 {
        out.push('T');
        for (n, u) in [(h, 'H'), (m, 'M'), (s, 'S')] {
            if n > 0 {
                out.push_str(&format!("{n}{u}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ontap_examples() {
        assert_eq!(parse("P1W"), Some(7 * 86400));
        assert_eq!(parse("P1D"), Some(86400));
        assert_eq!(parse("PT1H"), Some(3600));
        assert_eq!(parse("PT7M30S"), Some(450));
        assert_eq!(parse("P1DT2H3M4S"), Some(86400 + 7384));
        assert_eq!(parse("P2DT5M"), Some(2 * 86400 + 300));
        assert_eq!(parse("PT0S"), Some(0));
        assert_eq!(parse("P1Y"), Some(365 * 86400));
        for bad in [
            "", "P", "PT", "1D", "P1", "PT1D", "P1H", "PD", "P1D1W", "PT1S1M", "P-1D", "P1.5D",
            "P1DT",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn formats_canonically() {
        assert_eq!(format(0), "PT0S");
        assert_eq!(format(450), "PT7M30S");
        assert_eq!(format(86400 + 7384), "P1DT2H3M4S");
        assert_eq!(format(7 * 86400), "P7D");
    }
}
