//! GeoIP and ASN: where a call's `sourceIPAddress` is (country, region, city, coordinates) and
//! which network it belongs to, from MaxMind-format databases (GeoLite2/GeoIP2 City and ASN,
//! DB-IP lite) given by path. IPv4 and IPv6. Each address's answer is serialized once and
//! cached (bounded), since a trail's calls come from few addresses.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use maxminddb::{geoip2, Reader};

use super::fields::write_json_str;

/// Addresses remembered per shard before the shard is emptied and refilled.
const CACHE_PER_SHARD: usize = 8192;
const SHARDS: usize = 16;

/// The opened databases and the answer cache, shared by all workers.
pub struct GeoIp {
    city: Option<Reader<Vec<u8>>>,
    asn: Option<Reader<Vec<u8>>>,
    /// The `,"geo":{...},"as":{...}` members for an address (empty when it has neither).
    cache: Vec<Mutex<HashMap<IpAddr, Arc<[u8]>>>>,
}

impl GeoIp {
    /// Opens the databases given; a missing or unreadable one is a start-up error that names
    /// the setting and the path.
    pub fn open(city: Option<&Path>, asn: Option<&Path>) -> Result<Self, String> {
        let open = |setting: &str, path: &Path| {
            Reader::open_readfile(path).map_err(|e| {
                format!(
                    "{setting} = \"{}\": cannot open it as a MaxMind database ({e}); give the path of a GeoLite2/GeoIP2/DB-IP .mmdb file",
                    path.display()
                )
            })
        };
        Ok(GeoIp {
            city: city
                .map(|p| open("enrich.geoip_city (--geoip-city)", p))
                .transpose()?,
            asn: asn
                .map(|p| open("enrich.geoip_asn (--geoip-asn)", p))
                .transpose()?,
            cache: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        })
    }

    /// Writes the `geo` and `as` members (each with a leading comma) for `ip`, if the
    /// databases know it.
    pub fn write_members(&self, out: &mut Vec<u8>, ip: IpAddr) {
        let shard = &self.cache[shard_of(ip)];
        if let Some(hit) = shard.lock().ok().and_then(|c| c.get(&ip).cloned()) {
            out.extend_from_slice(&hit);
            return;
        }
        let members: Arc<[u8]> = Arc::from(self.lookup(ip));
        out.extend_from_slice(&members);
        if let Ok(mut c) = shard.lock() {
            if c.len() >= CACHE_PER_SHARD {
                c.clear();
            }
            c.insert(ip, members);
        }
    }

    fn lookup(&self, ip: IpAddr) -> Vec<u8> {
        let mut out = Vec::new();
        if let Some(city) = self
            .city
            .as_ref()
            .and_then(|r| r.lookup(ip).ok()?.decode::<geoip2::City>().ok()?)
        {
            let mut geo = Vec::new();
            let mut field = |name: &str, value: Option<&str>| {
                if let Some(v) = value {
                    geo.extend_from_slice(if geo.is_empty() { b"{" } else { b"," });
                    write_json_str(&mut geo, name);
                    geo.push(b':');
                    write_json_str(&mut geo, v);
                }
            };
            field("country_iso_code", city.country.iso_code);
            field("country_name", city.country.names.english);
            field(
                "region_iso_code",
                city.subdivisions.first().and_then(|s| s.iso_code),
            );
            field(
                "region_name",
                city.subdivisions.first().and_then(|s| s.names.english),
            );
            field("city_name", city.city.names.english);
            if let (Some(lat), Some(lon)) = (city.location.latitude, city.location.longitude) {
                geo.extend_from_slice(if geo.is_empty() { b"{" } else { b"," });
                geo.extend_from_slice(
                    format!("\"location\":{{\"lat\":{lat},\"lon\":{lon}}}").as_bytes(),
                );
            }
            if !geo.is_empty() {
                geo.push(b'}');
                out.extend_from_slice(b",\"geo\":");
                out.extend_from_slice(&geo);
            }
        }
        if let Some(asn) = self
            .asn
            .as_ref()
            .and_then(|r| r.lookup(ip).ok()?.decode::<geoip2::Asn>().ok()?)
        {
            if let Some(number) = asn.autonomous_system_number {
                out.extend_from_slice(format!(",\"as\":{{\"number\":{number}").as_bytes());
                if let Some(org) = asn.autonomous_system_organization {
                    out.extend_from_slice(b",\"organization\":{\"name\":");
                    write_json_str(&mut out, org);
                    out.push(b'}');
                }
                out.push(b'}');
            }
        }
        out
    }
}

fn shard_of(ip: IpAddr) -> usize {
    let last = match ip {
        IpAddr::V4(v4) => v4.octets()[3] as usize ^ v4.octets()[2] as usize,
        IpAddr::V6(v6) => v6.octets()[15] as usize ^ v6.octets()[13] as usize,
    };
    last % SHARDS
}
