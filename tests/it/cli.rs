//! The `geoavail` binary on the shipped demo data and config.

use serde_json::{Value, json};

use crate::support::{copy_dir, geoavail, repo, stderr, stdout};

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

const AT: &str = "2026-11-23T12:00:00Z";

fn query_json(args: &[&str]) -> Value {
    let mut all = vec!["query", "--json", "--at", AT];
    all.extend_from_slice(args);
    let output = geoavail(repo(), &all);
    assert!(output.status.success(), "{}", stderr(&output));
    serde_json::from_str(&stdout(&output)).expect("query --json prints JSON")
}

fn reason(args: &[&str]) -> (String, Value) {
    let answer = query_json(args);
    (answer["reason"].as_str().unwrap().to_owned(), answer)
}

#[test]
fn check_accepts_the_demo_catalog() {
    let output = geoavail(repo(), &["check"]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    let text = stdout(&output);
    assert!(text.contains("12 titles"), "{text}");
    assert!(
        text.contains("warning: license `acme-jp-2024` ended"),
        "{text}"
    );
}

#[test]
fn check_reports_every_planted_error_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("more")).unwrap();
    std::fs::write(
        root.join("a.toml"),
        r#"[groups]
LOOP = ["@LOOP2"]
LOOP2 = ["@LOOP"]

[[titles]]
id = "shared"
name = "Shared"
  [[titles.licenses]]
  territores = ["US"]
  [[titles.licenses]]
  territories = ["XX", "US-ZZ", "@NOPE"]
  start = 2027-01-01
  end = 2026-01-01
"#,
    )
    .unwrap();
    std::fs::write(
        root.join("more/b.toml"),
        r#"[[titles]]
id = "shared"
name = "Again"
  [[titles.licenses]]
  territories = []
  platforms = ["toaster"]
  timezone = "Atlantis/Capital"
[[titles]]
id = "Not An Id"
name = "Bad"
"#,
    )
    .unwrap();
    std::fs::write(root.join("more/c.toml"), "[[titles]\nid = \"broken\"\n").unwrap();
    std::fs::write(root.join("more/c.toml~"), "this editor backup is ignored").unwrap();
    let output = geoavail(root, &["check", "."]);
    assert_eq!(output.status.code(), Some(1));
    let lines: Vec<String> = stdout(&output).lines().map(str::to_owned).collect();
    let expected = [
        "a.toml:2:1: group `@LOOP` is part of a cycle: @LOOP -> @LOOP2 -> @LOOP",
        "a.toml:3:1: group `@LOOP2` is part of a cycle: @LOOP2 -> @LOOP -> @LOOP2",
        "a.toml:8:3: missing key `territories`",
        "a.toml:9:3: unknown key `territores`; did you mean `territories`?",
        "a.toml:11:18: unknown ISO 3166-1 country code `XX`",
        "a.toml:11:24: unknown ISO 3166-2 region code `US-ZZ`",
        "a.toml:11:33: unknown group `@NOPE`",
        "a.toml:12:11: `start` must be before `end`",
        "more/b.toml:2:6: duplicate title id `shared`: also defined at a.toml:6",
        "more/b.toml:5:17: `territories` is empty",
        "more/b.toml:6:16: unknown platform `toaster` (known: tv, web, mobile, tablet, console)",
        "more/b.toml:7:14: unknown time zone `Atlantis/Capital` (an IANA name such as `Europe/Paris`, or `territory`)",
        "more/b.toml:8:1: warning: title `?` has no license: it is available nowhere",
        "more/b.toml:9:6: title id `Not An Id` must match [a-z0-9][a-z0-9._-]{0,63}",
    ];
    for line in expected {
        assert!(
            lines.iter().any(|l| l == line),
            "missing {line:?} in:\n{}",
            lines.join("\n")
        );
    }
    assert!(
        lines.iter().any(|l| l.starts_with("more/c.toml:1:")),
        "{lines:?}"
    );
    assert!(
        lines.last().unwrap().ends_with("error(s), 1 warning(s)"),
        "{lines:?}"
    );
}

#[test]
fn query_shows_a_grant_with_its_license() {
    let (reason, answer) = reason(&["--ip", "192.0.2.100", "--title", "maple-and-main"]);
    assert_eq!(reason, "licensed");
    assert_eq!(answer["license"], "acme-na-2026");
    assert_eq!(answer["available_until"], "2031-01-01T00:00:00Z");
    assert_eq!(answer["location"]["region"], "CA-ON");
}

#[test]
fn query_shows_a_carve_out() {
    assert_eq!(
        reason(&["--ip", "192.0.2.70", "--title", "maple-and-main"]).0,
        "territory_excluded"
    );
    assert_eq!(
        reason(&["--ip", "192.0.2.130", "--title", "maple-and-main"]).0,
        "region_unknown"
    );
}

#[test]
fn query_shows_a_blackout() {
    assert_eq!(
        reason(&["--ip", "192.0.2.20", "--title", "harbor-league-live"]).0,
        "blackout"
    );
}

#[test]
fn query_shows_a_window_not_yet_open() {
    let (reason, answer) = reason(&["--ip", "198.51.100.200", "--title", "the-quiet-orchard"]);
    assert_eq!(reason, "window_not_started");
    assert_eq!(answer["available_from"], "2027-03-01T00:00:00Z");
}

#[test]
fn query_shows_a_platform_denial() {
    let args = [
        "--ip",
        "198.51.100.10",
        "--title",
        "summit-cup",
        "--platform",
        "mobile",
    ];
    assert_eq!(reason(&args).0, "platform_not_licensed");
}

#[test]
fn query_shows_an_anonymizer_denial() {
    assert_eq!(
        reason(&["--ip", "198.51.100.230", "--title", "the-glass-canal"]).0,
        "anonymizer"
    );
}

#[test]
fn query_shows_a_portability_grant() {
    let (reason, answer) = reason(&[
        "--ip",
        "198.51.100.10",
        "--title",
        "rue-des-lilas",
        "--home",
        "FR",
    ]);
    assert_eq!(reason, "licensed");
    assert_eq!(answer["portability"], true);
    assert_eq!(answer["location"]["country"], "DE");
    // In either case, as over HTTP.
    let (lower, _) = self::reason(&[
        "--ip",
        "198.51.100.10",
        "--title",
        "rue-des-lilas",
        "--home",
        "fr",
    ]);
    assert_eq!(lower, "licensed");
}

#[test]
fn query_without_a_title_lists_what_is_available() {
    let answer = query_json(&["--ip", "192.0.2.5"]);
    let ids: Vec<&str> = answer["titles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"golden-hour") && ids.contains(&"atlas-of-small-things"),
        "{ids:?}"
    );
    assert!(!ids.contains(&"the-glass-canal"), "{ids:?}");
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted);
}

#[test]
fn query_refuses_unknown_titles_and_platforms() {
    let output = geoavail(repo(), &["query", "--ip", "192.0.2.5", "--title", "nope"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("unknown title `nope`"));
    let output = geoavail(
        repo(),
        &["query", "--ip", "192.0.2.5", "--platform", "toaster"],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("unknown platform `toaster`"));
}

fn edit(path: &std::path::Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{from:?} not in {}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn diff_lists_exactly_what_an_edit_changes() {
    let dir = tempfile::tempdir().unwrap();
    let edited = dir.path().join("edited");
    copy_dir(&repo().join("catalogs"), &edited);
    // Quebec is no longer carved out of maple-and-main, and rue-des-lilas is withdrawn.
    edit(
        &edited.join("licensed/studio-acme.toml"),
        "exclude = [\"CA-QC\"]",
        "",
    );
    let lumiere = edited.join("licensed/maison-lumiere.toml");
    let text = std::fs::read_to_string(&lumiere).unwrap();
    let start = text
        .find("[[titles]]\nid = \"rue-des-lilas\"")
        .expect("rue-des-lilas is defined");
    let rest = &text[start + 10..];
    let end = rest
        .find("[[titles]]")
        .map_or(text.len(), |n| start + 10 + n);
    std::fs::write(&lumiere, format!("{}{}", &text[..start], &text[end..])).unwrap();

    let catalogs = repo().join("catalogs");
    let output = geoavail(
        repo(),
        &[
            "diff",
            catalogs.to_str().unwrap(),
            edited.to_str().unwrap(),
            "--at",
            AT,
        ],
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let lines: Vec<String> = stdout(&output).lines().map(str::to_owned).collect();
    assert_eq!(
        lines,
        [
            // Devices in Canada whose region is unknown, and those in Quebec.
            "maple-and-main: now available in CA, CA-QC (license acme-na-2026)",
            "rue-des-lilas: no longer available in FR (title_removed)",
        ],
        "{}",
        stdout(&output)
    );
    let json = geoavail(
        repo(),
        &[
            "diff",
            catalogs.to_str().unwrap(),
            edited.to_str().unwrap(),
            "--at",
            AT,
            "--json",
        ],
    );
    let answer: Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(
        answer["titles"][0]["gained"][0],
        json!({"territory": "CA", "license": "acme-na-2026"})
    );
}

#[test]
fn diff_of_identical_catalogs_exits_zero_and_of_missing_ones_two() {
    let catalogs = repo().join("catalogs");
    let path = catalogs.to_str().unwrap();
    let output = geoavail(repo(), &["diff", path, path]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    let output = geoavail(repo(), &["diff", path, "/nonexistent/catalogs"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("/nonexistent/catalogs"));
}
