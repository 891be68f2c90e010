//! Parsing a call's `userAgent` into ECS `user_agent.*`: the client's name and version and the
//! operating system. CloudTrail's agents are mostly AWS tools (`aws-cli/2.15.0 Python/3.11.6
//! Linux/6.1 ...`, `Boto3/1.34 ...`, `aws-sdk-go-v2/1.24 os/linux ...`), browsers behind the
//! console, and service names (`ec2.amazonaws.com`); those are what this knows. It never
//! allocates: every part is a slice of the agent string or a constant.

/// What was recognized in a user agent string.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UserAgent<'a> {
    pub name: Option<&'a str>,
    pub version: Option<&'a str>,
    pub os_name: Option<&'a str>,
    pub os_version: Option<&'a str>,
}

/// Parses `ua`. Unknown shapes give the first `product/version` token, or nothing.
pub fn parse_user_agent(ua: &str) -> UserAgent<'_> {
    let ua = ua.trim();
    // Console-made calls wrap several agents in brackets: `[S3Console/0.4, aws-internal/3 ...]`.
    let ua = ua
        .strip_prefix('[')
        .map(|s| s.trim_end_matches(']'))
        .unwrap_or(ua);
    if ua.starts_with("Mozilla/") {
        return parse_browser(ua);
    }
    let mut out = UserAgent::default();
    // One pass over the tokens (every record has a user agent).
    let mut first = true;
    for t in tokens(ua) {
        if first {
            first = false;
            if let Some((name, version)) = product(t) {
                out.name = Some(name);
                out.version = Some(version);
                continue;
            }
        }
        if out.os_name.is_some() {
            break;
        }
        // `Linux/5.10.0`, `Darwin/23.1.0`, `Windows/10`, and the SDK v2 `os/linux`.
        if let Some((p, v)) = split_slash(t) {
            match p {
                "Linux" | "Darwin" | "Windows" | "Windows_NT" | "FreeBSD" => {
                    out.os_name = Some(os_name_of(p));
                    out.os_version = version_prefix(v);
                }
                "os" => {
                    let (name, ver) = v.split_once('#').unwrap_or((v, ""));
                    out.os_name = Some(os_name_of(name));
                    out.os_version = version_prefix(ver);
                }
                _ => {}
            }
        } else if matches!(t, "linux" | "darwin" | "windows") {
            // aws-sdk-go: `aws-sdk-go/1.44.0 (go1.19; linux; amd64)`.
            out.os_name = Some(os_name_of(t));
        }
    }
    out
}

/// The non-empty tokens of a user agent, split at spaces, commas, semicolons and parentheses.
fn tokens(ua: &str) -> impl Iterator<Item = &str> {
    ua.split([' ', ',', ';', '(', ')'])
        .filter(|t| !t.is_empty())
}

fn os_name_of(s: &str) -> &'static str {
    match s {
        "Linux" | "linux" => "Linux",
        "Darwin" | "darwin" | "macos" => "Mac OS X",
        "Windows" | "windows" | "Windows_NT" => "Windows",
        "FreeBSD" | "freebsd" => "FreeBSD",
        "android" => "Android",
        "ios" => "iOS",
        _ => "Other",
    }
}

/// `a/b` split at the first slash (a byte search: tokens are short, and `split_once` with a
/// char pattern costs more than the search).
fn split_slash(token: &str) -> Option<(&str, &str)> {
    let i = token.bytes().position(|b| b == b'/')?;
    Some((&token[..i], &token[i + 1..]))
}

/// `name/version` where the version starts with a digit.
fn product(token: &str) -> Option<(&str, &str)> {
    let (name, version) = split_slash(token)?;
    if name.is_empty() || !version.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    Some((name, version_prefix(version)?))
}

/// The leading `1.2.3` of a version string (`5.10.0-1057-aws` gives `5.10.0`).
fn version_prefix(v: &str) -> Option<&str> {
    let end = v
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(v.len());
    let v = v[..end].trim_end_matches('.');
    (!v.is_empty()).then_some(v)
}

fn parse_browser(ua: &str) -> UserAgent<'_> {
    let mut out = UserAgent::default();
    // One pass over the `product/version` tokens; the best-ranked marker wins: Edge and Opera
    // carry Chrome's marker too, Chrome carries Safari's.
    let mut best = usize::MAX;
    for t in ua.split(' ') {
        let Some((product, version)) = split_slash(t) else {
            continue;
        };
        let (rank, name) = match product {
            "Edg" | "Edge" => (0, "Edge"),
            "OPR" => (1, "Opera"),
            "Firefox" => (2, "Firefox"),
            "CriOS" => (3, "Chrome Mobile iOS"),
            "Chrome" => (4, "Chrome"),
            "Version" => (5, "Safari"),
            _ => continue,
        };
        if rank < best {
            best = rank;
            out.name = Some(name);
            out.version = version_prefix(version);
        }
    }
    let platform = ua
        .find('(')
        .and_then(|s| ua[s + 1..].find(')').map(|e| &ua[s + 1..s + 1 + e]))
        .unwrap_or("");
    if let Some(i) = platform.find("Windows NT ") {
        out.os_name = Some("Windows");
        out.os_version = version_prefix(&platform[i + "Windows NT ".len()..]).map(|v| match v {
            "10.0" => "10",
            "6.3" => "8.1",
            "6.2" => "8",
            "6.1" => "7",
            other => other,
        });
    } else if let Some(i) = platform.find("Mac OS X ") {
        out.os_name = Some("Mac OS X");
        let v = &platform[i + "Mac OS X ".len()..];
        let end = v
            .find(|c: char| !(c.is_ascii_digit() || c == '_' || c == '.'))
            .unwrap_or(v.len());
        out.os_version = (end > 0).then(|| &v[..end]);
    } else if platform.contains("iPhone") || platform.contains("iPad") {
        out.os_name = Some("iOS");
    } else if platform.contains("Android") {
        out.os_name = Some("Android");
    } else if platform.contains("CrOS") {
        out.os_name = Some("Chrome OS");
    } else if platform.contains("Linux") {
        out.os_name = Some("Linux");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ua(
        name: &str,
        version: &str,
        os: Option<&str>,
        os_version: Option<&str>,
    ) -> UserAgent<'static> {
        UserAgent {
            name: Some(Box::leak(name.to_string().into_boxed_str())),
            version: Some(Box::leak(version.to_string().into_boxed_str())),
            os_name: os.map(|s| &*Box::leak(s.to_string().into_boxed_str())),
            os_version: os_version.map(|s| &*Box::leak(s.to_string().into_boxed_str())),
        }
    }

    #[test]
    fn aws_tools() {
        assert_eq!(
            parse_user_agent("aws-cli/2.15.0 Python/3.11.6 Linux/6.1.0-13-amd64 exe/x86_64.debian.12 prompt/off command/s3.ls"),
            ua("aws-cli", "2.15.0", Some("Linux"), Some("6.1.0"))
        );
        assert_eq!(
            parse_user_agent("Boto3/1.28.62 md/Botocore#1.31.62 ua/2.0 os/macos#23.0.0 md/arch#arm64 lang/python#3.11.6"),
            ua("Boto3", "1.28.62", Some("Mac OS X"), Some("23.0.0"))
        );
        assert_eq!(
            parse_user_agent("aws-sdk-go/1.44.122 (go1.19.3; linux; amd64)"),
            ua("aws-sdk-go", "1.44.122", Some("Linux"), None)
        );
        assert_eq!(
            parse_user_agent("[S3Console/0.4, aws-internal/3 aws-sdk-java/1.11.1030 Linux/5.4.129-72.229.amzn2int.x86_64]"),
            ua("S3Console", "0.4", Some("Linux"), Some("5.4.129"))
        );
    }

    #[test]
    fn browsers() {
        assert_eq!(
            parse_user_agent(
                "Mozilla/5.0 (Windows NT 6.1; WOW64; rv:24.0) Gecko/20100101 Firefox/24.0"
            ),
            ua("Firefox", "24.0", Some("Windows"), Some("7"))
        );
        assert_eq!(
            parse_user_agent("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.61"),
            ua("Edge", "120.0.2210.61", Some("Mac OS X"), Some("10_15_7"))
        );
    }

    #[test]
    fn services_and_junk_give_nothing() {
        assert_eq!(parse_user_agent("ec2.amazonaws.com"), UserAgent::default());
        assert_eq!(parse_user_agent("AWS Internal"), UserAgent::default());
        assert_eq!(parse_user_agent(""), UserAgent::default());
        assert_eq!(parse_user_agent("x/"), UserAgent::default());
    }
}
