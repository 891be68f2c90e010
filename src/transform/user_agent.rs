//! Parsing a call's `userAgent` into ECS `user_agent.*`: the client's name and version and the
//! operating system. CloudTrail's agents are mostly AWS tools (`aws-cli/2.15.0 Python/3.11.6
//! Linux/6.1 ...`, `Boto3/1.34 ...`, `aws-sdk-go-v2/1.24 os/linux ...`), browsers behind the
//! console, and service names (`ec2.amazonaws.com`); those are what this knows. It never
//! allocates: every part is a slice of the agent string or a constant (a browser's
//! `Mac OS X 10_15_7` is a slice too, which `OsVersion` writes as `10.15.7`).
//!
//! A `Darwin/23.1.0` (or an SDK's `os/macos#23.1.0`) is the Darwin kernel's version, not
//! macOS's: it is mapped to the macOS release that shipped that kernel (`14`), major only, since
//! the minor versions do not line up; a kernel this does not know gives no version, never a
//! wrong one.

use std::fmt;

/// What was recognized in a user agent string.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UserAgent<'a> {
    pub name: Option<&'a str>,
    pub version: Option<&'a str>,
    pub os_name: Option<&'a str>,
    pub os_version: Option<OsVersion<'a>>,
}

/// An operating system's version as found, digits and dots, or digits and underscores as
/// browsers write macOS's (`10_15_7`), which is shown with dots.
#[derive(Debug, Clone, Copy)]
pub struct OsVersion<'a>(&'a str);

impl OsVersion<'_> {
    /// Appends the version with dots, unquoted: its bytes are digits and separators (see
    /// `version_prefix` and the browser branch), which JSON needs no escape for.
    pub fn push_dotted(self, out: &mut Vec<u8>) {
        out.extend(self.0.bytes().map(|b| if b == b'_' { b'.' } else { b }));
    }
}

impl PartialEq for OsVersion<'_> {
    /// `10_15_7` is `10.15.7`.
    fn eq(&self, other: &Self) -> bool {
        let sep = |b: u8| b == b'.' || b == b'_';
        self.0.len() == other.0.len()
            && self
                .0
                .bytes()
                .zip(other.0.bytes())
                .all(|(a, b)| a == b || (sep(a) && sep(b)))
    }
}

impl Eq for OsVersion<'_> {}

impl fmt::Display for OsVersion<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for part in self.0.split('_').enumerate() {
            if part.0 > 0 {
                f.write_str(".")?;
            }
            f.write_str(part.1)?;
        }
        Ok(())
    }
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
                "Darwin" => {
                    out.os_name = Some(os_name_of(p));
                    out.os_version = macos_of_darwin(v).map(OsVersion);
                }
                "Linux" | "Windows" | "Windows_NT" | "FreeBSD" => {
                    out.os_name = Some(os_name_of(p));
                    out.os_version = version_prefix(v).map(OsVersion);
                }
                // The Java SDK names the macOS release itself: `Mac_OS_X/14.2`.
                "Mac_OS_X" => {
                    out.os_name = Some("Mac OS X");
                    out.os_version = version_prefix(v).map(OsVersion);
                }
                "os" => {
                    let (name, ver) = v.split_once('#').unwrap_or((v, ""));
                    let os = os_name_of(name);
                    out.os_name = Some(os);
                    // The SDKs report the kernel's release (Python's `platform.release()`).
                    out.os_version = if os == "Mac OS X" {
                        macos_of_darwin(ver)
                    } else {
                        version_prefix(ver)
                    }
                    .map(OsVersion);
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

/// The macOS release that shipped a Darwin kernel (`23.6.0` gives `14`), from Apple's release
/// history: Darwin 5 to 19 are Mac OS X 10.1 to 10.15, Darwin 20 to 24 are macOS 11 to 15, and
/// Darwin 25 is macOS 26. `None` for any other kernel (a future one included).
fn macos_of_darwin(kernel: &str) -> Option<&'static str> {
    const TEN: [&str; 15] = [
        "10.1", "10.2", "10.3", "10.4", "10.5", "10.6", "10.7", "10.8", "10.9", "10.10", "10.11",
        "10.12", "10.13", "10.14", "10.15",
    ];
    let major: usize = kernel.split('.').next()?.parse().ok()?;
    match major {
        5..=19 => Some(TEN[major - 5]),
        20 => Some("11"),
        21 => Some("12"),
        22 => Some("13"),
        23 => Some("14"),
        24 => Some("15"),
        25 => Some("26"),
        _ => None,
    }
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
        out.os_version = version_prefix(&platform[i + "Windows NT ".len()..])
            .map(|v| match v {
                "10.0" => "10",
                "6.3" => "8.1",
                "6.2" => "8",
                "6.1" => "7",
                other => other,
            })
            .map(OsVersion);
    } else if let Some(i) = platform.find("Mac OS X ") {
        out.os_name = Some("Mac OS X");
        let v = &platform[i + "Mac OS X ".len()..];
        let end = v
            .find(|c: char| !(c.is_ascii_digit() || c == '_' || c == '.'))
            .unwrap_or(v.len());
        // Browsers write `10_15_7`; the version is `10.15.7`.
        let v = v[..end].trim_matches(['_', '.']);
        out.os_version = (!v.is_empty()).then_some(OsVersion(v));
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
            os_version: os_version.map(|s| OsVersion(Box::leak(s.to_string().into_boxed_str()))),
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
            ua("Boto3", "1.28.62", Some("Mac OS X"), Some("14"))
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
            ua("Edge", "120.0.2210.61", Some("Mac OS X"), Some("10.15.7"))
        );
        assert_eq!(
            parse_user_agent("Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:120.0) Gecko/20100101 Firefox/120.0"),
            ua("Firefox", "120.0", Some("Mac OS X"), Some("10.15"))
        );
    }

    #[test]
    fn darwin_kernels_are_not_macos_versions() {
        fn os(agent: &str) -> (Option<&str>, Option<String>) {
            let p = parse_user_agent(agent);
            (p.os_name, p.os_version.map(|v| v.to_string()))
        }
        let mac = |v: Option<&str>| (Some("Mac OS X"), v.map(str::to_string));
        assert_eq!(
            os("aws-cli/1.16.286 Python/3.7.5 Darwin/18.7.0 botocore/1.13.25"),
            mac(Some("10.14"))
        );
        assert_eq!(
            os("aws-cli/2.15.0 Python/3.11.6 Darwin/23.6.0 exe/x86_64"),
            mac(Some("14"))
        );
        assert_eq!(
            os("Boto3/1.34.0 md/Botocore#1.34.0 ua/2.0 os/macos#23.6.0 md/arch#arm64"),
            mac(Some("14"))
        );
        assert_eq!(
            os("aws-cli/2.27.0 Python/3.13.2 Darwin/25.0.0 exe/arm64"),
            mac(Some("26"))
        );
        // A kernel this does not know: no version rather than a wrong one.
        assert_eq!(os("aws-cli/3.0.0 Python/3.14 Darwin/40.1.0"), mac(None));
        assert_eq!(
            os("aws-sdk-java/1.12.0 Mac_OS_X/14.2 OpenJDK_64-Bit_Server_VM/17"),
            mac(Some("14.2"))
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
