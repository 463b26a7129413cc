//! Names of pools and policies.

/// Longest pool or policy name.
pub const MAX_NAME: usize = 256;

/// A name that breaks ONTAP's CLI rule for pool and policy names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "\"{name}\" is an invalid value for field \"{target}\": use 1 to {MAX_NAME} letters, digits, \"_\", \"-\" or \".\", not only dots."
)]
pub struct NameError {
    pub name: String,
    pub target: String,
}

/// Pool and policy names: 1–256 of `A-Za-z0-9_-.` (ONTAP's CLI rule).
pub fn check_name(name: &str, target: &str) -> Result<(), NameError> {
    // "." and ".." would be rewritten away in a URL path.
    let ok = !name.is_empty()
        && name.chars().any(|c| c != '.')
        && name.chars().count() <= MAX_NAME
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(NameError {
            name: name.to_string(),
            target: target.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_cli_rule() {
        for good in ["p", "pool-1.a_b", &"x".repeat(MAX_NAME)] {
            assert!(check_name(good, "name").is_ok(), "{good}");
        }
        for bad in ["", ".", "..", "a b", "a/b", "é", &"x".repeat(MAX_NAME + 1)] {
            let e = check_name(bad, "name").unwrap_err();
            assert_eq!(e.target, "name");
            assert!(e.to_string().contains("invalid value"), "{e}");
        }
    }
}
