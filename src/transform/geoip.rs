//! GeoIP and ASN: where a call's `sourceIPAddress` is (country, region, city, coordinates) and
//! which network it belongs to, from MaxMind-format databases (GeoLite2/GeoIP2 City and ASN,
//! DB-IP lite) given by path. IPv4 and IPv6. Each address's answer is serialized once and
//! cached (bounded), since a trail's calls come from few addresses.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use maxminddb::{geoip2, Reader};

use super::fast_hash::FastHash;
use super::fields::write_json_str;

/// Addresses remembered per shard before the shard is emptied and refilled.
const CACHE_PER_SHARD: usize = 8192;
const SHARDS: usize = 16;

/// The text fields of an answer, in `GeoAnswer::spans` order.
#[derive(Debug, Clone, Copy)]
enum Text {
    ContinentName,
    CountryIsoCode,
    CountryName,
    RegionIsoCode,
    RegionName,
    CityName,
    PostalCode,
    AsOrganization,
}
const TEXTS: usize = 8;
/// A span's start when the field is absent.
const ABSENT: u32 = u32::MAX;

/// What the databases say about one address. Compact, as up to 131,072 are cached: the
/// serialized members and every text field share one allocation, built straight from the
/// database's strings (a full answer is about 560 bytes with its cache entry; as ten owned
/// strings and a buffer it was about 850, in twelve allocations per lookup that missed).
#[derive(Debug, Clone, PartialEq)]
pub struct GeoAnswer {
    /// `members()`'s bytes (`members_len` of them), then each text field one after another.
    text: Box<str>,
    members_len: u32,
    /// Each text field's (start, end) in `text`; start `ABSENT` when the database has none.
    spans: [(u32, u32); TEXTS],
    /// (latitude, longitude).
    location: Option<(f64, f64)>,
    as_number: Option<u32>,
}

impl GeoAnswer {
    fn text(&self, field: Text) -> Option<&str> {
        let (start, end) = self.spans[field as usize];
        (start != ABSENT).then(|| &self.text[start as usize..end as usize])
    }
    /// The continent, in English.
    pub fn continent_name(&self) -> Option<&str> {
        self.text(Text::ContinentName)
    }
    /// The country, ISO 3166-1 alpha-2.
    pub fn country_iso_code(&self) -> Option<&str> {
        self.text(Text::CountryIsoCode)
    }
    /// The country, in English.
    pub fn country_name(&self) -> Option<&str> {
        self.text(Text::CountryName)
    }
    /// ISO 3166-2, as Elastic's geoip writes it: `US-CA`.
    pub fn region_iso_code(&self) -> Option<&str> {
        self.text(Text::RegionIsoCode)
    }
    /// The first subdivision, in English.
    pub fn region_name(&self) -> Option<&str> {
        self.text(Text::RegionName)
    }
    /// The city, in English.
    pub fn city_name(&self) -> Option<&str> {
        self.text(Text::CityName)
    }
    /// The postal code.
    pub fn postal_code(&self) -> Option<&str> {
        self.text(Text::PostalCode)
    }
    /// The autonomous system's organization.
    pub fn as_organization(&self) -> Option<&str> {
        self.text(Text::AsOrganization)
    }
    /// (latitude, longitude).
    pub fn location(&self) -> Option<(f64, f64)> {
        self.location
    }
    /// The autonomous system number.
    pub fn as_number(&self) -> Option<u32> {
        self.as_number
    }

    /// The `,"geo":{...},"as":{...}` members (ECS names), made once when the answer was built.
    pub fn members(&self) -> &[u8] {
        &self.text.as_bytes()[..self.members_len as usize]
    }

    /// Whether the answer has any city-database part.
    pub fn has_geo(&self) -> bool {
        let present = |f: Text| self.spans[f as usize].0 != ABSENT;
        present(Text::CountryIsoCode)
            || present(Text::CountryName)
            || present(Text::RegionName)
            || present(Text::CityName)
            || self.location.is_some()
    }

    /// Writes the `,"geo":{...},"as":{...}` members (ECS names), those it has.
    pub fn write_members(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.members());
    }

    fn serialize_members(&self, out: &mut Vec<u8>) {
        if self.has_geo() {
            out.extend_from_slice(b",\"geo\":");
            self.write_ecs_geo(out);
        }
        if self.as_number.is_some() {
            out.extend_from_slice(b",\"as\":");
            self.write_ecs_as(out);
        }
    }

    /// The ECS `geo` object (`country_iso_code`, ..., `location: {lat, lon}`).
    fn write_ecs_geo(&self, out: &mut Vec<u8>) {
        let mut first = true;
        let mut field = |out: &mut Vec<u8>, name: &str, value: Option<&str>| {
            if let Some(v) = value {
                out.extend_from_slice(if first { b"{" } else { b"," });
                first = false;
                write_json_str(out, name);
                out.push(b':');
                write_json_str(out, v);
            }
        };
        field(out, "continent_name", self.continent_name());
        field(out, "country_iso_code", self.country_iso_code());
        field(out, "country_name", self.country_name());
        field(out, "region_iso_code", self.region_iso_code());
        field(out, "region_name", self.region_name());
        field(out, "city_name", self.city_name());
        field(out, "postal_code", self.postal_code());
        if let Some((lat, lon)) = self.location {
            out.extend_from_slice(if first { b"{" } else { b"," });
            first = false;
            out.extend_from_slice(
                format!("\"location\":{{\"lat\":{lat},\"lon\":{lon}}}").as_bytes(),
            );
        }
        out.extend_from_slice(if first { b"{}" } else { b"}" });
    }

    /// The ECS `as` object (`number`, `organization.name`).
    fn write_ecs_as(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(format!("{{\"number\":{}", self.as_number.unwrap_or(0)).as_bytes());
        if let Some(org) = self.as_organization() {
            out.extend_from_slice(b",\"organization\":{\"name\":");
            write_json_str(out, org);
            out.push(b'}');
        }
        out.push(b'}');
    }
}

/// Gathers an answer's fields straight from the database's strings (no copy of each), then
/// packs them with their serialized members into one `GeoAnswer`.
struct AnswerBuilder {
    answer: GeoAnswer,
    text: String,
}

impl AnswerBuilder {
    fn new() -> Self {
        AnswerBuilder {
            answer: GeoAnswer {
                text: Box::default(),
                members_len: 0,
                spans: [(ABSENT, ABSENT); TEXTS],
                location: None,
                as_number: None,
            },
            text: String::new(),
        }
    }

    /// Sets a text field to the concatenation of `parts` (a region code is `US` `-` `CA`).
    fn set(&mut self, field: Text, parts: &[&str]) {
        let start = self.text.len();
        for part in parts {
            self.text.push_str(part);
        }
        self.answer.spans[field as usize] = (start as u32, self.text.len() as u32);
    }

    fn set_opt(&mut self, field: Text, value: Option<&str>) {
        if let Some(v) = value {
            self.set(field, &[v]);
        }
    }

    /// The answer, or none when the databases know nothing of the address.
    fn finish(mut self) -> Option<GeoAnswer> {
        let mut a = self.answer;
        if !a.has_geo() && a.as_number.is_none() {
            return None;
        }
        // Serialize the members from the fields as gathered, then put them first.
        a.text = std::mem::take(&mut self.text).into_boxed_str();
        let mut members = Vec::new();
        a.serialize_members(&mut members);
        let members = String::from_utf8(members).ok()?;
        let shift = members.len() as u32;
        let mut text = members;
        text.push_str(&a.text);
        a.text = text.into_boxed_str();
        a.members_len = shift;
        for span in a.spans.iter_mut().filter(|(start, _)| *start != ABSENT) {
            *span = (span.0 + shift, span.1 + shift);
        }
        Some(a)
    }
}

/// One shard of the answer cache: an address's answer, or that it has none.
type CacheShard = HashMap<IpAddr, Option<Arc<GeoAnswer>>, FastHash>;

/// The opened databases and the answer cache, shared by all workers.
pub struct GeoIp {
    city: Option<Reader<Vec<u8>>>,
    asn: Option<Reader<Vec<u8>>>,
    /// Each address's answer (`None`: the databases do not know it).
    cache: Vec<Mutex<CacheShard>>,
}

/// A GeoIP database that cannot be opened.
#[derive(Debug, thiserror::Error)]
#[error("{setting} = \"{}\": cannot open it as a MaxMind database ({source}); give the path of a GeoLite2/GeoIP2/DB-IP .mmdb file", .path.display())]
pub struct GeoIpError {
    pub setting: &'static str,
    pub path: std::path::PathBuf,
    pub source: maxminddb::MaxMindDbError,
}

impl GeoIp {
    /// Opens the databases given; a missing or unreadable one is a start-up error that names
    /// the setting and the path.
    pub fn open(city: Option<&Path>, asn: Option<&Path>) -> Result<Self, GeoIpError> {
        let open = |setting: &'static str, path: &Path| {
            Reader::open_readfile(path).map_err(|source| GeoIpError {
                setting,
                path: path.to_path_buf(),
                source,
            })
        };
        Ok(GeoIp {
            city: city
                .map(|p| open("enrich.geoip_city (--geoip-city)", p))
                .transpose()?,
            asn: asn
                .map(|p| open("enrich.geoip_asn (--geoip-asn)", p))
                .transpose()?,
            cache: (0..SHARDS)
                .map(|_| Mutex::new(HashMap::default()))
                .collect(),
        })
    }

    /// Writes the `geo` and `as` members (each with a leading comma) for `ip`, if the
    /// databases know it.
    pub fn write_members(&self, out: &mut Vec<u8>, ip: IpAddr) {
        if let Some(answer) = self.answer(ip) {
            answer.write_members(out);
        }
    }

    /// What the databases know of `ip` (cached).
    pub fn answer(&self, ip: IpAddr) -> Option<Arc<GeoAnswer>> {
        let shard = &self.cache[shard_of(ip)];
        if let Some(hit) = shard.lock().ok().and_then(|c| c.get(&ip).cloned()) {
            return hit;
        }
        let answer = self.lookup(ip).map(Arc::new);
        if let Ok(mut c) = shard.lock() {
            if c.len() >= CACHE_PER_SHARD {
                c.clear();
            }
            c.insert(ip, answer.clone());
        }
        answer
    }

    fn lookup(&self, ip: IpAddr) -> Option<GeoAnswer> {
        let mut a = AnswerBuilder::new();
        if let Some(city) = self
            .city
            .as_ref()
            .and_then(|r| r.lookup(ip).ok()?.decode::<geoip2::City>().ok()?)
        {
            a.set_opt(Text::CountryIsoCode, city.country.iso_code);
            a.set_opt(Text::CountryName, city.country.names.english);
            a.set_opt(Text::ContinentName, city.continent.names.english);
            // ECS spells a region `SE-E` (country, then subdivision), as Elastic's geoip does.
            if let Some(sub) = city.subdivisions.first().and_then(|s| s.iso_code) {
                match city.country.iso_code {
                    Some(c) => a.set(Text::RegionIsoCode, &[c, "-", sub]),
                    None => a.set(Text::RegionIsoCode, &[sub]),
                }
            }
            let region = city.subdivisions.first().and_then(|s| s.names.english);
            a.set_opt(Text::RegionName, region);
            a.set_opt(Text::CityName, city.city.names.english);
            a.set_opt(Text::PostalCode, city.postal.code);
            if let (Some(lat), Some(lon)) = (city.location.latitude, city.location.longitude) {
                a.answer.location = Some((lat, lon));
            }
        }
        if let Some(asn) = self
            .asn
            .as_ref()
            .and_then(|r| r.lookup(ip).ok()?.decode::<geoip2::Asn>().ok()?)
        {
            a.answer.as_number = asn.autonomous_system_number;
            a.set_opt(Text::AsOrganization, asn.autonomous_system_organization);
        }
        a.finish()
    }
}

fn shard_of(ip: IpAddr) -> usize {
    let last = match ip {
        IpAddr::V4(v4) => v4.octets()[3] as usize ^ v4.octets()[2] as usize,
        IpAddr::V6(v6) => v6.octets()[15] as usize ^ v6.octets()[13] as usize,
    };
    last % SHARDS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packed_answer_gives_back_each_field_and_its_members() {
        let mut b = AnswerBuilder::new();
        b.set_opt(Text::CountryIsoCode, Some("SE"));
        b.set_opt(Text::CountryName, Some("Sweden"));
        b.set(Text::RegionIsoCode, &["SE", "-", "E"]);
        b.set_opt(Text::CityName, Some("Link\u{f6}ping"));
        b.set_opt(Text::PostalCode, Some(""));
        b.answer.location = Some((58.41, 15.62));
        b.answer.as_number = Some(64500);
        b.set_opt(Text::AsOrganization, Some("Example \"Quoted\" Net"));
        let a = b.finish().expect("an answer");
        assert_eq!(a.country_iso_code(), Some("SE"));
        assert_eq!(a.country_name(), Some("Sweden"));
        assert_eq!(a.region_iso_code(), Some("SE-E"));
        assert_eq!(a.region_name(), None);
        assert_eq!(a.continent_name(), None);
        assert_eq!(a.city_name(), Some("Link\u{f6}ping"));
        assert_eq!(a.postal_code(), Some(""), "present but empty is not absent");
        assert_eq!(a.as_organization(), Some("Example \"Quoted\" Net"));
        assert_eq!(
            (a.location(), a.as_number()),
            (Some((58.41, 15.62)), Some(64500))
        );
        let members: serde_json::Value =
            serde_json::from_slice(&[b"{\"x\":0", a.members(), b"}"].concat()).expect("json");
        assert_eq!(
            members,
            serde_json::json!({
                "x": 0,
                "geo": {
                    "country_iso_code": "SE", "country_name": "Sweden", "region_iso_code": "SE-E",
                    "city_name": "Link\u{f6}ping", "postal_code": "",
                    "location": {"lat": 58.41, "lon": 15.62}
                },
                "as": {"number": 64500, "organization": {"name": "Example \"Quoted\" Net"}}
            })
        );
    }

    #[test]
    fn an_address_the_databases_do_not_know_has_no_answer() {
        assert_eq!(AnswerBuilder::new().finish(), None);
        let mut only_as = AnswerBuilder::new();
        only_as.answer.as_number = Some(1);
        let a = only_as.finish().expect("an AS answer");
        assert!(!a.has_geo());
        assert_eq!(a.members(), b",\"as\":{\"number\":1}");
    }
}
