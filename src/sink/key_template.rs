//! Text with a record's keys in it (`aws_account:{recipientAccountId},region:{awsRegion}`),
//! parsed once at start and rendered per record without allocating: Datadog's `ddtags`,
//! Splunk's `source` and `host`. (Kafka's topic template, which must also clean what it
//! renders into a topic name, has its own in `kafka.rs`.)

use super::Keys;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Account,
    Region,
    EventSource,
    EventId,
}

impl Part {
    /// This part's text for a record with `keys`.
    fn text<'a>(&'a self, keys: &Keys<'a>) -> &'a str {
        let value = match self {
            Part::Text(t) => return t,
            Part::Account => keys.recipient_account_id,
            Part::Region => keys.aws_region,
            Part::EventSource => keys.event_source,
            Part::EventId => keys.event_id,
        };
        if value.is_empty() {
            "unknown"
        } else {
            value
        }
    }
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyTemplate {
    parts: Vec<Part>,
}

/// The keys a template may name, for messages.
const NAMES: &str = "{recipientAccountId}, {awsRegion}, {eventSource} or {eventID}";

impl KeyTemplate {
    /// Parses `template`; `key` names the setting in messages.
    pub fn parse(key: &str, template: &str) -> Result<KeyTemplate, String> {
        let mut parts = Vec::new();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_string()));
            }
            let Some(close) = rest[open..].find('}') else {
                return Err(format!(
                    "{key} = {template:?}: a '{{' is not closed: write {NAMES}"
                ));
            };
            parts.push(match &rest[open + 1..open + close] {
                "recipientAccountId" => Part::Account,
                "awsRegion" => Part::Region,
                "eventSource" => Part::EventSource,
                "eventID" => Part::EventId,
                other => {
                    return Err(format!(
                        "{key} = {template:?}: unknown key {{{other}}}: use {NAMES}"
                    ))
                }
            });
            rest = &rest[open + close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(KeyTemplate { parts })
    }

    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// Whether it names any key (else it renders the same for every record).
    pub fn has_keys(&self) -> bool {
        self.parts.iter().any(|p| !matches!(p, Part::Text(_)))
    }

    /// Appends the text for a record with `keys`; a key the record lacks renders as `unknown`.
    pub fn render_into(&self, keys: &Keys<'_>, out: &mut String) {
        for p in &self.parts {
            out.push_str(p.text(keys));
        }
    }

    /// The length `render_into` would append, without rendering.
    pub fn rendered_len(&self, keys: &Keys<'_>) -> usize {
        self.parts.iter().map(|p| p.text(keys).len()).sum()
    }

    /// Any text the template holds literally, each piece (for validating characters).
    pub fn literal_text(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Text(t) => Some(t.as_str()),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_keys_and_names_the_bad_ones() {
        let t =
            KeyTemplate::parse("k", "aws_account:{recipientAccountId},region:{awsRegion}").unwrap();
        let mut out = String::new();
        t.render_into(
            &Keys {
                recipient_account_id: "111122223333",
                ..Default::default()
            },
            &mut out,
        );
        assert_eq!(out, "aws_account:111122223333,region:unknown");
        assert_eq!(
            t.rendered_len(&Keys {
                recipient_account_id: "111122223333",
                ..Default::default()
            }),
            out.len()
        );
        assert!(t.has_keys());
        assert!(!KeyTemplate::parse("k", "plain").unwrap().has_keys());
        let e = KeyTemplate::parse("sink[0].ddtags", "a:{account}").unwrap_err();
        assert!(
            e.contains("sink[0].ddtags") && e.contains("{recipientAccountId}"),
            "{e}"
        );
        assert!(KeyTemplate::parse("k", "a:{awsRegion").is_err());
    }
}
