//! The `geoavail` binary on the shipped demo data and config.

use serde_json::{Value, json};

use crate::support::{geoavail, repo, stderr, stdout};

fn locate_json(ip: &str) -> Value {
    let output = geoavail(repo(), &["locate", ip, "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    serde_json::from_str(&stdout(&output)).expect("locate --json prints JSON")
}

#[test]
fn locate_demo_ipv4_with_region() {
    assert_eq!(
        locate_json("192.0.2.5"),
        json!({"ip": "192.0.2.5", "country": "US", "region": "US-CA",
               "source": "geoip", "anonymizer": false})
    );
}

#[test]
fn locate_demo_ipv6() {
    assert_eq!(
        locate_json("2001:db8:3::1"),
        json!({"ip": "2001:db8:3::1", "country": "FR", "region": null,
               "source": "geoip", "anonymizer": false})
    );
}

#[test]
fn locate_ipv4_mapped_reads_as_ipv4() {
    let mapped = locate_json("::ffff:198.51.100.7");
    assert_eq!(mapped["country"], "DE");
    assert_eq!(mapped["region"], "DE-BY");
    assert_eq!(mapped["source"], "geoip");
}

#[test]
fn locate_private_address_is_unknown() {
    assert_eq!(
        locate_json("192.168.1.20"),
        json!({"ip": "192.168.1.20", "country": null, "region": null,
               "source": "none", "anonymizer": false})
    );
}

#[test]
fn locate_override_and_anonymizer_sources() {
    let office = locate_json("10.1.4.4");
    assert_eq!(
        (&office["country"], &office["source"]),
        (&json!("CA"), &json!("override"))
    );
    let vpn = locate_json("198.51.100.230");
    assert_eq!(
        (&vpn["country"], &vpn["anonymizer"]),
        (&json!("NL"), &json!(true))
    );
    let qa = locate_json("10.9.0.1");
    assert_eq!(
        (&qa["source"], &qa["anonymizer"]),
        (&json!("none"), &json!(true))
    );
    let anycast = locate_json("203.0.113.200");
    assert_eq!(anycast["source"], "none");
}

#[test]
fn locate_text_output_names_each_field() {
    let output = geoavail(repo(), &["locate", "2001:db8:1::9"]);
    let text = stdout(&output);
    assert!(text.contains("country     US"), "{text}");
    assert!(text.contains("source      geoip"), "{text}");
}

#[test]
fn a_missing_database_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = geoavail(dir.path(), &["locate", "192.0.2.1"]);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(message.contains("geoip/demo.mmdb"), "{message}");
}

#[test]
fn an_unknown_config_key_is_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("geoavail.toml"),
        "[geoip]\nuse_registred_country = true\n",
    )
    .unwrap();
    let output = geoavail(dir.path(), &["locate", "192.0.2.1"]);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(
        message.contains("geoavail.toml:2:1: unknown field `use_registred_country`"),
        "{message}"
    );
}
