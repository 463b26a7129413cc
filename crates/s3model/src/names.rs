//! Name rules of ONTAP's S3 objects, as the netapp-ontap schemas and S3 document them.
//! Each check returns the reason a name is refused, phrased for the administrator.

/// An S3 server name: 3 to 253 characters of `0-9 A-Z a-z . -`.
pub fn check_server_name(name: &str) -> Result<(), String> {
    let len = name.chars().count();
    if !(3..=253).contains(&len) {
        return Err("an S3 server name must be 3 to 253 characters long".into());
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
    {
        return Err(
            "an S3 server name may contain only the characters 0-9, A-Z, a-z, \".\" and \"-\""
                .into(),
        );
    }
    Ok(())
}

/// A bucket name (S3's rules, which ONTAP applies): 3 to 63 characters of lowercase
/// letters, digits, `.` and `-`, starting and ending with a letter or digit, no two
/// adjacent periods, no period next to a hyphen, and not shaped like an IPv4 address.
pub fn check_bucket_name(name: &str) -> Result<(), String> {
    let len = name.len();
    if !(3..=63).contains(&len) {
        return Err("a bucket name must be 3 to 63 characters long".into());
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
    {
        return Err(
            "a bucket name may contain only lowercase letters, digits, \".\" and \"-\"".into(),
        );
    }
    let edge = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = name.as_bytes();
    if !edge(bytes[0]) || !edge(bytes[len - 1]) {
        return Err("a bucket name must start and end with a letter or a digit".into());
    }
    if name.contains("..") || name.contains(".-") || name.contains("-.") {
        return Err(
            "a bucket name must not contain two adjacent periods or a period next to a hyphen"
                .into(),
        );
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return Err("a bucket name must not be formatted as an IP address".into());
    }
    Ok(())
}

/// An S3 user name: 1 to 64 characters of `0-9 A-Z a-z _ + = , . @ -`.
pub fn check_user_name(name: &str) -> Result<(), String> {
    check_iam_name(name, "user", 64)
}

/// An S3 group name: 1 to 128 characters of the user name characters.
pub fn check_group_name(name: &str) -> Result<(), String> {
    check_iam_name(name, "group", 128)
}

/// An S3 policy name: 1 to 128 characters of the user name characters.
pub fn check_policy_name(name: &str) -> Result<(), String> {
    check_iam_name(name, "policy", 128)
}

fn check_iam_name(name: &str, what: &str, max: usize) -> Result<(), String> {
    let len = name.chars().count();
    if !(1..=max).contains(&len) {
        return Err(format!(
            "an S3 {what} name must be 1 to {max} characters long"
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
    {
        return Err(format!(
            "an S3 {what} name may contain only the characters 0-9, A-Z, a-z and _ + = , . @ -"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names() {
        assert!(check_server_name("s3.vs1.example.com").is_ok());
        assert!(check_server_name("ab").is_err());
        assert!(check_server_name("has space").is_err());
        assert!(check_server_name(&"a".repeat(254)).is_err());
    }

    #[test]
    fn bucket_names() {
        for ok in ["abc", "my-bucket.1", "0bucket9", &"a".repeat(63)] {
            assert!(check_bucket_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ab",
            "Upper",
            "-start",
            "end-",
            "a..b",
            "a.-b",
            "a_b",
            "192.168.1.1",
            &"a".repeat(64),
        ] {
            assert!(check_bucket_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn user_names() {
        assert!(check_user_name("user-1@corp.example").is_ok());
        assert!(check_user_name("").is_err());
        assert!(check_user_name("a/b").is_err());
        assert!(check_user_name(&"u".repeat(65)).is_err());
        assert!(check_group_name(&"g".repeat(128)).is_ok());
        assert!(check_group_name(&"g".repeat(129)).is_err());
        assert!(check_policy_name("Read-Only_1").is_ok());
        assert!(check_policy_name("no/slash").is_err());
    }
}
