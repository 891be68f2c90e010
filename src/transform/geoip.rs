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

/// What the databases say about one address.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GeoAnswer {
    pub country_iso_code: Option<String>,
    pub country_name: Option<String>,
    pub continent_name: Option<String>,
    pub region_iso_code: Option<String>,
    pub region_name: Option<String>,
    pub city_name: Option<String>,
    pub postal_code: Option<String>,
    /// (latitude, longitude).
    pub location: Option<(f64, f64)>,
    pub as_number: Option<u32>,
    pub as_organization: Option<String>,
    /// `write_members`' bytes, made once when the answer is cached.
    members: Vec<u8>,
}

impl GeoAnswer {
    /// The `,"geo":{...},"as":{...}` members (ECS names), made once when the answer was cached.
    pub fn members(&self) -> &[u8] {
        &self.members
    }

    /// Whether the answer has any city-database part.
    pub fn has_geo(&self) -> bool {
        self.country_iso_code.is_some()
            || self.country_name.is_some()
            || self.region_name.is_some()
            || self.city_name.is_some()
            || self.location.is_some()
    }

    /// Writes the `,"geo":{...},"as":{...}` members (ECS names), those it has.
    pub fn write_members(&self, out: &mut Vec<u8>) {
        if !self.members.is_empty() {
            out.extend_from_slice(&self.members);
            return;
        }
        self.serialize_members(out);
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
    pub fn write_ecs_geo(&self, out: &mut Vec<u8>) {
        let mut first = true;
        let mut field = |out: &mut Vec<u8>, name: &str, value: &Option<String>| {
            if let Some(v) = value {
                out.extend_from_slice(if first { b"{" } else { b"," });
                first = false;
                write_json_str(out, name);
                out.push(b':');
                write_json_str(out, v);
            }
        };
        field(out, "continent_name", &self.continent_name);
        field(out, "country_iso_code", &self.country_iso_code);
        field(out, "country_name", &self.country_name);
        field(out, "region_iso_code", &self.region_iso_code);
        field(out, "region_name", &self.region_name);
        field(out, "city_name", &self.city_name);
        field(out, "postal_code", &self.postal_code);
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
    pub fn write_ecs_as(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(format!("{{\"number\":{}", self.as_number.unwrap_or(0)).as_bytes());
        if let Some(org) = &self.as_organization {
            out.extend_from_slice(b",\"organization\":{\"name\":");
            write_json_str(out, org);
            out.push(b'}');
        }
        out.push(b'}');
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
        let answer = Some(self.lookup(ip))
            .filter(|a| a.has_geo() || a.as_number.is_some())
            .map(|mut a| {
                let mut members = Vec::new();
                a.serialize_members(&mut members);
                a.members = members;
                Arc::new(a)
            });
        if let Ok(mut c) = shard.lock() {
            if c.len() >= CACHE_PER_SHARD {
                c.clear();
            }
            c.insert(ip, answer.clone());
        }
        answer
    }

    fn lookup(&self, ip: IpAddr) -> GeoAnswer {
        let mut a = GeoAnswer::default();
        let own = |s: Option<&str>| s.map(str::to_owned);
        if let Some(city) = self
            .city
            .as_ref()
            .and_then(|r| r.lookup(ip).ok()?.decode::<geoip2::City>().ok()?)
        {
            a.country_iso_code = own(city.country.iso_code);
            a.country_name = own(city.country.names.english);
            a.continent_name = own(city.continent.names.english);
            // ECS spells a region `SE-E` (country, then subdivision), as Elastic's geoip does.
            a.region_iso_code = city
                .subdivisions
                .first()
                .and_then(|s| s.iso_code)
                .map(|sub| match city.country.iso_code {
                    Some(c) => format!("{c}-{sub}"),
                    None => sub.to_owned(),
                });
            a.region_name = own(city.subdivisions.first().and_then(|s| s.names.english));
            a.city_name = own(city.city.names.english);
            a.postal_code = own(city.postal.code);
            if let (Some(lat), Some(lon)) = (city.location.latitude, city.location.longitude) {
                a.location = Some((lat, lon));
            }
        }
        if let Some(asn) = self
            .asn
            .as_ref()
            .and_then(|r| r.lookup(ip).ok()?.decode::<geoip2::Asn>().ok()?)
        {
            a.as_number = asn.autonomous_system_number;
            a.as_organization = own(asn.autonomous_system_organization);
        }
        a
    }
}

fn shard_of(ip: IpAddr) -> usize {
    let last = match ip {
        IpAddr::V4(v4) => v4.octets()[3] as usize ^ v4.octets()[2] as usize,
        IpAddr::V6(v6) => v6.octets()[15] as usize ^ v6.octets()[13] as usize,
    };
    last % SHARDS
}
