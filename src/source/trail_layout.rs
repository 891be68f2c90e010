//! CloudTrail's S3 key layout: `<prefix>/AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/
//! <account>_CloudTrail_<region>_<YYYYMMDDTHHMMZ>_<id>.json.gz`, and for organization trails
//! `<prefix>/AWSLogs/<org-id>/<account>/CloudTrail/...`. Digests live beside, under
//! `CloudTrail-Digest/`, and Insights events under `CloudTrail-Insight/` in the same layout
//! (`<account>_CloudTrail-Insight_<region>_...`). Knowing it lets a replay list only the day folders in range instead
//! of the whole bucket.

use super::dir::trail_time_key;

/// A calendar day as YYYYMMDD.
pub type Day = u32;

/// One account and region of a trail: the folder that holds its day folders.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RegionPrefix {
    /// `.../AWSLogs/[o-org/]<account>/<log>/<region>/`
    pub path: String,
    pub account: String,
    pub region: String,
    /// The log folder: `CloudTrail`, or `CloudTrail-Insight` for Insights events.
    pub log: &'static str,
}

impl RegionPrefix {
    /// The key prefix of one day's folder.
    pub fn day_path(&self, day: Day) -> String {
        format!(
            "{}{:04}/{:02}/{:02}/",
            self.path,
            day / 10_000,
            day / 100 % 100,
            day % 100
        )
    }

    /// The checkpoint name of this prefix: `account/region` for API events (as saved by
    /// earlier releases), `account/CloudTrail-Insight/region` for Insights events.
    pub fn id(&self) -> String {
        if self.log == "CloudTrail" {
            format!("{}/{}", self.account, self.region)
        } else {
            format!("{}/{}/{}", self.account, self.log, self.region)
        }
    }
}

/// Whether a folder name is an account id (12 digits).
pub fn is_account(name: &str) -> bool {
    name.len() == 12 && name.bytes().all(|b| b.is_ascii_digit())
}

/// Whether a folder name is an AWS Organizations id (`o-` and 10 to 32 lowercase letters or
/// digits).
pub fn is_org(name: &str) -> bool {
    name.strip_prefix("o-").is_some_and(|rest| {
        (10..=32).contains(&rest.len())
            && rest
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    })
}

/// The last folder name of a common prefix (`a/b/c/` gives `c`).
pub fn last_folder(prefix: &str) -> &str {
    prefix
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or("")
}

/// A log file's delivery time from its name as YYYYMMDDHHMMSS, for ordering and filters.
pub fn key_time(key: &str) -> Option<u64> {
    trail_time_key(key.rsplit('/').next().unwrap_or(key))
}

/// YYYYMMDD from `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SSZ` (a `--start`/`--end` value), with the
/// full YYYYMMDDHHMMSS.
pub fn parse_time_arg(s: &str) -> Option<(Day, u64)> {
    let b = s.as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| -> Option<u64> {
        let part = s.get(r)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (y, m, d) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let (mut hh, mut mm, mut ss) = (0, 0, 0);
    if b.len() > 10 {
        if b.len() < 20 || b[10] != b'T' || b[13] != b':' || b[16] != b':' || !s.ends_with('Z') {
            return None;
        }
        (hh, mm, ss) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
        if hh > 23 || mm > 59 || ss > 59 {
            return None;
        }
    }
    let day = (y * 10_000 + m * 100 + d) as Day;
    Some((
        day,
        u64::from(day) * 1_000_000 + hh * 10_000 + mm * 100 + ss,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(is_account("123456789012"));
        assert!(!is_account("12345678901"));
        assert!(is_org("o-abcdef1234"));
        assert!(!is_org("o-ABC"));
        assert_eq!(last_folder("AWSLogs/o-abcdef1234/"), "o-abcdef1234");
        assert_eq!(
            key_time("AWSLogs/1/CloudTrail/r/2026/01/05/1_CloudTrail_r_20260105T0005Z_x.json.gz"),
            Some(20260105000500)
        );
    }

    #[test]
    fn time_args() {
        assert_eq!(
            parse_time_arg("2026-01-05"),
            Some((20260105, 20260105000000))
        );
        assert_eq!(
            parse_time_arg("2026-01-05T10:20:30Z"),
            Some((20260105, 20260105102030))
        );
        assert_eq!(parse_time_arg("2026-13-05"), None);
        assert_eq!(parse_time_arg("yesterday"), None);
    }

    #[test]
    fn day_folders() {
        let p = RegionPrefix {
            path: "AWSLogs/1/CloudTrail/us-east-1/".into(),
            log: "CloudTrail",
            account: "1".into(),
            region: "us-east-1".into(),
        };
        assert_eq!(
            p.day_path(20260105),
            "AWSLogs/1/CloudTrail/us-east-1/2026/01/05/"
        );
    }
}
