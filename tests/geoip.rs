//! GeoIP and ASN enrichment against small MaxMind-format databases this test writes itself
//! (nothing is downloaded): IPv4 and IPv6, a missing entry, a service source, a missing file.

mod common;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use common::*;
use maxminddb_writer::metadata::IpVersion;
use maxminddb_writer::paths::IpAddrWithMask;
use maxminddb_writer::Database;
use serde::Serialize;

#[derive(Serialize)]
struct Names {
    en: String,
}

#[derive(Serialize)]
struct Place {
    iso_code: String,
    names: Names,
}

#[derive(Serialize)]
struct CityName {
    names: Names,
}

#[derive(Serialize)]
struct Location {
    latitude: f64,
    longitude: f64,
}

#[derive(Serialize)]
struct CityRecord {
    city: CityName,
    country: Place,
    location: Location,
    subdivisions: Vec<Place>,
}

#[derive(Serialize)]
struct AsnRecord {
    autonomous_system_number: u32,
    autonomous_system_organization: String,
}

fn v4_in_v6(a: Ipv4Addr, mask: u8) -> IpAddrWithMask {
    IpAddrWithMask::new(IpAddr::V6(a.to_ipv6_compatible()), 96 + mask)
}

fn new_db(kind: &str) -> Database {
    let mut db = Database::default();
    db.metadata.ip_version = IpVersion::V6;
    db.metadata.database_type = kind.to_string();
    db.metadata.binary_format_major_version = 2;
    db.metadata.languages = vec!["en".into()];
    db
}

fn place(code: &str, name: &str) -> Place {
    Place {
        iso_code: code.into(),
        names: Names { en: name.into() },
    }
}

fn write_fixtures(dir: &Path) -> (String, String) {
    let mut city = new_db("GeoLite2-City");
    let sf = city
        .insert_value(CityRecord {
            city: CityName {
                names: Names {
                    en: "San Francisco".into(),
                },
            },
            country: place("US", "United States"),
            location: Location {
                latitude: 37.7749,
                longitude: -122.4194,
            },
            subdivisions: vec![place("CA", "California")],
        })
        .expect("value");
    city.insert_node(v4_in_v6(Ipv4Addr::new(192, 0, 2, 0), 24), sf);
    let berlin = city
        .insert_value(CityRecord {
            city: CityName {
                names: Names {
                    en: "Berlin".into(),
                },
            },
            country: place("DE", "Germany"),
            location: Location {
                latitude: 52.52,
                longitude: 13.405,
            },
            subdivisions: vec![place("BE", "Land Berlin")],
        })
        .expect("value");
    city.insert_node(
        IpAddrWithMask::new(
            IpAddr::V6("2001:db8::".parse::<Ipv6Addr>().expect("v6")),
            32,
        ),
        berlin,
    );
    let mut asn = new_db("GeoLite2-ASN");
    let a = asn
        .insert_value(AsnRecord {
            autonomous_system_number: 64500,
            autonomous_system_organization: "Example \"Quoted\" Net".into(),
        })
        .expect("value");
    asn.insert_node(v4_in_v6(Ipv4Addr::new(192, 0, 2, 0), 24), a);
    let b = asn
        .insert_value(AsnRecord {
            autonomous_system_number: 64501,
            autonomous_system_organization: "Example v6".into(),
        })
        .expect("value");
    asn.insert_node(
        IpAddrWithMask::new(
            IpAddr::V6("2001:db8::".parse::<Ipv6Addr>().expect("v6")),
            32,
        ),
        b,
    );
    let city_path = dir.join("city.mmdb");
    let asn_path = dir.join("asn.mmdb");
    city.write_to(std::fs::File::create(&city_path).expect("create"))
        .expect("write city");
    asn.write_to(std::fs::File::create(&asn_path).expect("create"))
        .expect("write asn");
    (
        city_path.to_str().expect("path").into(),
        asn_path.to_str().expect("path").into(),
    )
}

fn record_from(ip: &str, i: usize) -> String {
    format!(
        r#"{{"eventVersion":"1.08","eventSource":"s3.amazonaws.com","eventName":"GetObject","eventTime":"2026-01-05T00:00:{i:02}Z","eventID":"ev-{i}","sourceIPAddress":"{ip}","userIdentity":{{"type":"IAMUser","arn":"arn:aws:iam::1:user/u"}}}}"#
    )
}

#[test]
fn ipv4_and_ipv6_sources_get_geo_and_as() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (city, asn) = write_fixtures(dir.path());
    let ips = [
        "192.0.2.10",
        "2001:db8::7",
        "198.51.100.1",
        "ec2.amazonaws.com",
        "192.0.2.10",
    ];
    let input: String = ips
        .iter()
        .enumerate()
        .map(|(i, ip)| record_from(ip, i) + "\n")
        .collect();
    let out = trailhose(
        &[
            "replay",
            "-q",
            "--enrich",
            "--geoip-city",
            &city,
            "--geoip-asn",
            &asn,
            "-",
        ],
        Some(input.as_bytes()),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let by_ip: BTreeMap<String, serde_json::Value> = json_lines(&out.stdout)
        .into_iter()
        .map(|r| {
            (
                r["sourceIPAddress"].as_str().expect("ip").to_string(),
                r["enrichment"]["source"].clone(),
            )
        })
        .collect();
    let v4 = &by_ip["192.0.2.10"];
    assert_eq!(v4["kind"], "ip");
    assert_eq!(v4["geo"]["country_iso_code"], "US");
    assert_eq!(v4["geo"]["country_name"], "United States");
    assert_eq!(v4["geo"]["region_name"], "California");
    assert_eq!(v4["geo"]["city_name"], "San Francisco");
    assert_eq!(v4["geo"]["location"]["lat"], 37.7749);
    assert_eq!(v4["geo"]["location"]["lon"], -122.4194);
    assert_eq!(v4["as"]["number"], 64500);
    assert_eq!(v4["as"]["organization"]["name"], "Example \"Quoted\" Net");
    let v6 = &by_ip["2001:db8::7"];
    assert_eq!(
        (v6["geo"]["city_name"].as_str(), v6["as"]["number"].as_u64()),
        (Some("Berlin"), Some(64501))
    );
    let unknown = &by_ip["198.51.100.1"];
    assert_eq!(unknown["kind"], "ip");
    assert!(
        unknown.get("geo").is_none() && unknown.get("as").is_none(),
        "{unknown}"
    );
    let service = &by_ip["ec2.amazonaws.com"];
    assert_eq!(service["kind"], "aws_service");
    assert!(service.get("geo").is_none());
}

#[test]
fn a_missing_database_is_a_start_up_error() {
    let out = trailhose(
        &[
            "replay",
            "-q",
            "--enrich",
            "--geoip-city",
            "/no/such/city.mmdb",
            "-",
        ],
        Some(b""),
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("--geoip-city") && err.contains("/no/such/city.mmdb"),
        "{err}"
    );
    // A file that is not a database: named too.
    let dir = tempfile::tempdir().expect("tempdir");
    let bogus = dir.path().join("bogus.mmdb");
    std::fs::write(&bogus, b"not a database").expect("write");
    let out = trailhose(
        &[
            "replay",
            "-q",
            "--enrich",
            "--geoip-asn",
            bogus.to_str().expect("path"),
            "-",
        ],
        Some(b""),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("bogus.mmdb"), "{}", stderr(&out));
}
