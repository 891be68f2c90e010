//! Filters: drop noise, read-only calls, or calls by event source and name, each counted by
//! reason. A dropped record is acknowledged like a written one (dropped on purpose).

use serde::Deserialize;

use super::fields::RecordView;
use super::noise::Noise;

/// `[filter]`: which records to drop. Lists match exactly (`eventSource` like
/// `s3.amazonaws.com`, `eventName` like `GetObject`); an empty include list keeps everything.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct FilterConfig {
    /// Drop records with any noise reason.
    pub drop_noise: bool,
    /// Drop records with `readOnly: true`.
    pub drop_read_only: bool,
    /// Keep only these event sources.
    pub include_event_sources: Vec<String>,
    /// Drop these event sources.
    pub exclude_event_sources: Vec<String>,
    /// Keep only these event names.
    pub include_event_names: Vec<String>,
    /// Drop these event names.
    pub exclude_event_names: Vec<String>,
}

/// Why a record was dropped: the `reason` label of `trailhose_events_dropped_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// The `eventID` was seen before (dedupe).
    Duplicate,
    Noise,
    ReadOnly,
    EventSource,
    EventName,
}

impl DropReason {
    pub const ALL: [DropReason; 5] = [
        DropReason::Duplicate,
        DropReason::Noise,
        DropReason::ReadOnly,
        DropReason::EventSource,
        DropReason::EventName,
    ];

    pub fn label(self) -> &'static str {
        match self {
            DropReason::Duplicate => "duplicate",
            DropReason::Noise => "noise",
            DropReason::ReadOnly => "read_only",
            DropReason::EventSource => "event_source",
            DropReason::EventName => "event_name",
        }
    }
}

impl FilterConfig {
    /// Whether any filter is set (so records need their fields read at all).
    pub fn is_active(&self) -> bool {
        *self != FilterConfig::default()
    }

    /// Whether the noise verdict is needed.
    pub fn needs_noise(&self) -> bool {
        self.drop_noise
    }

    /// Why `record` is dropped, or `None` to keep it.
    pub fn verdict(&self, record: &RecordView<'_>, noise: &Noise) -> Option<DropReason> {
        if self.drop_noise && noise.is_noise() {
            return Some(DropReason::Noise);
        }
        if self.drop_read_only && record.read_only == Some(true) {
            return Some(DropReason::ReadOnly);
        }
        let source = record.event_source.unwrap_or("");
        if listed(&self.exclude_event_sources, source)
            || unlisted(&self.include_event_sources, source)
        {
            return Some(DropReason::EventSource);
        }
        let name = record.event_name.unwrap_or("");
        if listed(&self.exclude_event_names, name) || unlisted(&self.include_event_names, name) {
            return Some(DropReason::EventName);
        }
        None
    }
}

fn listed(list: &[String], value: &str) -> bool {
    list.iter().any(|x| x == value)
}

fn unlisted(include: &[String], value: &str) -> bool {
    !include.is_empty() && !listed(include, value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::noise::classify_noise;

    fn verdict(f: &FilterConfig, json: &str) -> Option<DropReason> {
        let mut bytes = json.as_bytes().to_vec();
        let tape = simd_json::to_tape(&mut bytes).unwrap();
        let v = RecordView::read(tape.as_value());
        f.verdict(&v, &classify_noise(&v))
    }

    #[test]
    fn each_filter_drops_by_its_reason() {
        let rec = r#"{"eventSource":"s3.amazonaws.com","eventName":"GetObject","readOnly":true,"userIdentity":{"type":"IAMUser"}}"#;
        assert_eq!(verdict(&FilterConfig::default(), rec), None);
        let f = FilterConfig {
            drop_read_only: true,
            ..Default::default()
        };
        assert_eq!(verdict(&f, rec), Some(DropReason::ReadOnly));
        let f = FilterConfig {
            exclude_event_sources: vec!["s3.amazonaws.com".into()],
            ..Default::default()
        };
        assert_eq!(verdict(&f, rec), Some(DropReason::EventSource));
        let f = FilterConfig {
            include_event_sources: vec!["iam.amazonaws.com".into()],
            ..Default::default()
        };
        assert_eq!(verdict(&f, rec), Some(DropReason::EventSource));
        let f = FilterConfig {
            include_event_names: vec!["GetObject".into()],
            ..Default::default()
        };
        assert_eq!(verdict(&f, rec), None);
        let f = FilterConfig {
            exclude_event_names: vec!["GetObject".into()],
            ..Default::default()
        };
        assert_eq!(verdict(&f, rec), Some(DropReason::EventName));
        let f = FilterConfig {
            drop_noise: true,
            ..Default::default()
        };
        assert_eq!(verdict(&f, rec), None);
        assert_eq!(
            verdict(&f, r#"{"userIdentity":{"type":"AWSService"}}"#),
            Some(DropReason::Noise)
        );
    }
}
