//! Each format on real-looking lines, detection, and properties: no input
//! makes a parser panic, and records written as lines read back the same.

use std::borrow::Cow;

use proptest::prelude::*;

use super::*;

const UA: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

fn parse(format: &str, line: &str) -> LogRecord<'static> {
    let FormatChoice::Fixed(mut format) = format.parse::<FormatChoice>().unwrap() else {
        panic!("a fixed format")
    };
    let record = format.parse(line).unwrap().unwrap();
    owned(record)
}

fn owned(record: LogRecord<'_>) -> LogRecord<'static> {
    let own = |c: Cow<'_, str>| Cow::Owned(c.into_owned());
    LogRecord {
        timestamp_ms: record.timestamp_ms,
        ip: record.ip,
        method: own(record.method),
        host: record.host.map(own),
        target: own(record.target),
        status: record.status,
        referrer: record.referrer.map(own),
        user_agent: record.user_agent.map(own),
    }
}

#[test]
fn ncsa_lines_are_read() {
    let combined = parse(
        "combined",
        &format!(
            r#"203.0.113.7 - - [10/Mar/2024:10:00:00 +0000] "GET /blog?utm_source=news HTTP/1.1" 200 5120 "https://www.google.com/" "{UA}""#
        ),
    );
    assert_eq!(combined.timestamp_ms, 1_710_064_800_000);
    assert_eq!(combined.ip, "203.0.113.7".parse().ok());
    assert_eq!(
        (combined.method.as_ref(), combined.target.as_ref()),
        ("GET", "/blog?utm_source=news")
    );
    assert_eq!(combined.status, 200);
    assert_eq!(
        combined.referrer.as_deref(),
        Some("https://www.google.com/")
    );
    assert_eq!(combined.user_agent.as_deref(), Some(UA));
    assert_eq!(combined.host, None);

    let common = parse(
        "common",
        r#"2001:db8::7 - frank [10/Mar/2024:11:00:00 +0100] "GET / HTTP/1.0" 304 -"#,
    );
    assert_eq!(common.timestamp_ms, 1_710_064_800_000);
    assert_eq!(common.ip, "2001:db8::7".parse().ok());
    assert_eq!((common.referrer, common.user_agent), (None, None));

    let vhost = parse(
        "combined-vhost",
        r#"blog.example:443 198.51.100.2 - - [10/Mar/2024:10:00:00 +0000] "GET /a HTTP/2.0" 200 1 "-" "-""#,
    );
    assert_eq!(vhost.host.as_deref(), Some("blog.example"));
    assert_eq!((vhost.referrer, vhost.user_agent), (None, None));

    // nginx escapes quotes and bytes inside quoted fields.
    let escaped = parse(
        "combined",
        r#"1.2.3.4 - - [10/Mar/2024:10:00:00 +0000] "GET /caf\xC3\xA9 HTTP/1.1" 200 1 "-" "a \"quoted\" agent""#,
    );
    assert_eq!(escaped.target, "/café");
    assert_eq!(escaped.user_agent.as_deref(), Some("a \"quoted\" agent"));
}

#[test]
fn caddy_lines_are_read() {
    let line = r#"{"level":"info","ts":1710064800.123,"logger":"http.log.access","msg":"handled request","request":{"remote_ip":"10.0.0.1","client_ip":"198.51.100.9","remote_port":"5000","proto":"HTTP/2.0","method":"GET","host":"example.com","uri":"/x?a=1","headers":{"User-Agent":["Firefox/1"],"referer":["https://duckduckgo.com/"]}},"duration":0.001,"size":10,"status":200}"#;
    let record = parse("caddy", line);
    assert_eq!(record.timestamp_ms, 1_710_064_800_123);
    assert_eq!(
        record.ip,
        "198.51.100.9".parse().ok(),
        "client_ip comes first"
    );
    assert_eq!(record.host.as_deref(), Some("example.com"));
    assert_eq!(record.target, "/x?a=1");
    assert_eq!(record.referrer.as_deref(), Some("https://duckduckgo.com/"));
    assert_eq!(record.user_agent.as_deref(), Some("Firefox/1"));

    let older = r#"{"ts":"2024-03-10T10:00:00Z","request":{"remote_addr":"[2001:db8::1]:443","method":"HEAD","uri":"/"},"status":404}"#;
    let record = parse("caddy", older);
    assert_eq!(record.timestamp_ms, 1_710_064_800_000);
    assert_eq!(record.ip, "2001:db8::1".parse().ok());
    assert_eq!((record.method.as_ref(), record.status), ("HEAD", 404));
}

#[test]
fn cloudfront_lines_are_read_by_their_fields_line() {
    let mut format = LogFormat::Cloudfront(W3cColumns::cloudfront());
    assert_eq!(format.parse("#Version: 1.0"), Ok(None));
    assert_eq!(
        format.parse("#Fields: date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) cs(User-Agent) cs-uri-query"),
        Ok(None)
    );
    let line = "2024-03-10\t10:00:00\tFRA2\t100\t192.0.2.10\tGET\td1.cloudfront.net\t/docs/\t200\thttps://www.bing.com/\tMozilla/5.0%2520(X11)\tutm_source=x";
    let record = owned(format.parse(line).unwrap().unwrap());
    assert_eq!(record.timestamp_ms, 1_710_064_800_000);
    assert_eq!(record.target, "/docs/?utm_source=x");
    assert_eq!(record.user_agent.as_deref(), Some("Mozilla/5.0 (X11)"));
    assert_eq!(record.referrer.as_deref(), Some("https://www.bing.com/"));
    assert_eq!(record.ip, "192.0.2.10".parse().ok());
    assert!(format.parse("2024-03-10\t10:00:00").is_err());
}

#[test]
fn bunny_lines_are_read() {
    let line = format!(
        "HIT|200|1710064800000|412|390|163.172.53.229|-|https://cdn.example/guide/?utm_medium=x|WA|{UA}|322b688bd63fb63f2babe9de30a5d262|DE"
    );
    let record = parse("bunny", &line);
    assert_eq!(record.timestamp_ms, 1_710_064_800_000);
    assert_eq!(record.target, "/guide/?utm_medium=x");
    assert_eq!(record.host.as_deref(), Some("cdn.example"));
    assert_eq!(record.user_agent.as_deref(), Some(UA));
    assert_eq!(record.referrer, None);
    let piped = "MISS|200|1710064800000|1|1|1.2.3.4|-|https://a.test/|WA|agent | with pipe|id|DE";
    assert_eq!(
        parse("bunny", piped).user_agent.as_deref(),
        Some("agent | with pipe")
    );
}

#[test]
fn the_format_is_detected_from_the_first_lines() {
    let combined = r#"1.2.3.4 - - [10/Mar/2024:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "ua""#;
    let common = r#"1.2.3.4 - - [10/Mar/2024:10:00:00 +0000] "GET / HTTP/1.1" 200 1"#;
    let vhost =
        r#"a.test:80 1.2.3.4 - - [10/Mar/2024:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "ua""#;
    let caddy = r#"{"ts":1,"request":{"method":"GET","uri":"/"},"status":200}"#;
    let bunny = "HIT|200|1710064800000|1|1|1.2.3.4|-|https://a.test/|WA|ua|id|DE";
    assert_eq!(
        detect([combined, "garbage", combined]),
        Some(LogFormat::Combined)
    );
    assert_eq!(detect([common]), Some(LogFormat::Common));
    assert_eq!(detect([vhost]), Some(LogFormat::CombinedVhost));
    assert_eq!(detect([caddy]), Some(LogFormat::Caddy));
    assert_eq!(detect([bunny]), Some(LogFormat::Bunny));
    assert!(matches!(
        detect(["#Version: 1.0", "#Fields: date time"]),
        Some(LogFormat::Cloudfront(_))
    ));
    assert_eq!(detect(["", "hello world"]), None);
}

#[test]
fn unknown_formats_are_refused_naming_the_choices() {
    let error = "apache".parse::<FormatChoice>().unwrap_err();
    assert!(
        error.contains("combined") && error.contains("log:<fields>"),
        "{error}"
    );
    assert_eq!("auto".parse::<FormatChoice>(), Ok(FormatChoice::Auto));
    assert!("log:$nope".parse::<FormatChoice>().is_err());
}

#[test]
fn bad_lines_are_errors_naming_what_is_wrong() {
    let mut combined = LogFormat::Combined;
    for bad in [
        "garbage",
        r#"1.2.3.4 - - [10/Mar/2024:10:00:00 +0000] "GET / HTTP/1.1" 999 1 "-" "ua""#,
        r#"1.2.3.4 - - [10/Mar/2024:10:00:00 +0000] "-" 400 1 "-" "ua""#,
        r#"1.2.3.4 - - [99/Mar/2024:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "ua""#,
        r#"1.2.3.4 - - [10/Mar/2024:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "unterminated"#,
    ] {
        assert!(combined.parse(bad).is_err(), "{bad}");
    }
    assert_eq!(combined.parse("   "), Ok(None));
    assert!(matches!(
        LogFormat::Caddy.parse(r#"{"ts":-5,"request":{"method":"GET","uri":"/"},"status":200}"#),
        Err(LineError::Field { field: "ts", .. })
    ));
}

/// A printable field without the characters that delimit it.
fn text(excluded: &'static str) -> impl Strategy<Value = String> {
    proptest::string::string_regex("[ -~]{1,40}")
        .unwrap()
        .prop_filter("no delimiters", move |s| {
            !s.contains(|c| excluded.contains(c)) && s.trim() == s && s != "-"
        })
}

proptest! {
    /// No line, of any bytes, makes any parser panic.
    #[test]
    fn no_line_panics_any_parser(line in "\\PC{0,300}") {
        for mut format in [
            LogFormat::Common,
            LogFormat::Combined,
            LogFormat::CombinedVhost,
            LogFormat::Caddy,
            LogFormat::Cloudfront(W3cColumns::cloudfront()),
            LogFormat::Bunny,
            LogFormat::Fields(FieldLayout::parse("$remote_addr [$datetime] \"$request\" $status \"$referrer\" \"$user_agent\"").unwrap()),
        ] {
            let _ = format.parse(&line);
        }
        let _ = detect([line.as_str()]);
    }

    /// A request written as a combined line reads back as itself.
    #[test]
    fn combined_lines_round_trip(
        seconds in 0i64..4_000_000_000,
        ip in any::<std::net::Ipv4Addr>(),
        path in text("\" \\"),
        status in 100u16..600,
        referrer in text("\"\\"),
        agent in text("\"\\"),
    ) {
        let time = jiff::Timestamp::from_second(seconds).unwrap();
        let clf = time.strftime("%d/%b/%Y:%H:%M:%S +0000").to_string();
        let line = format!("{ip} - - [{clf}] \"GET /{path} HTTP/1.1\" {status} 12 \"{referrer}\" \"{agent}\"");
        let record = LogFormat::Combined.parse(&line).unwrap().unwrap();
        prop_assert_eq!(record.timestamp_ms, seconds * 1000);
        prop_assert_eq!(record.ip, Some(std::net::IpAddr::V4(ip)));
        prop_assert_eq!(record.target.as_ref(), format!("/{path}"));
        prop_assert_eq!(record.status, status);
        prop_assert_eq!(record.referrer.as_deref(), Some(referrer.as_str()));
        prop_assert_eq!(record.user_agent.as_deref(), Some(agent.as_str()));
    }
}
