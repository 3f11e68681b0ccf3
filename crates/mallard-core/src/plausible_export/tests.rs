//! Tests of reading Plausible's CSV export.

use super::*;
use proptest::prelude::*;

fn day(date: &str) -> i64 {
    parse_date(date).unwrap()
}

#[test]
fn file_names_name_a_table_and_its_days() {
    let file = parse_file_name("exports/imported_pages_20230101_20231231.csv").unwrap();
    assert_eq!(file.table, Table::Pages);
    assert_eq!(file.first_day, day("2023-01-01"));
    assert_eq!(file.last_day, day("2023-12-31"));
    assert_eq!(
        parse_file_name("operating_systems_20240201_20240229.csv")
            .unwrap()
            .table,
        Table::OperatingSystems
    );
    assert_eq!(
        parse_file_name("imported_custom_events_20240101_20240101.csv")
            .unwrap()
            .table,
        Table::CustomEvents
    );
    for bad in [
        "pages.csv",
        "imported_pages_20230101_20231231.txt",
        "imported_referrals_20230101_20231231.csv",
        "imported_pages_20231301_20231231.csv",
        "imported_pages_20231231_20230101.csv",
        "imported_pages_2023010_20231231.csv",
        "__MACOSX/._imported_pages_20230101_20231231",
    ] {
        assert_eq!(parse_file_name(bad), None, "{bad}");
    }
}

#[test]
fn a_header_without_a_needed_column_names_it() {
    let err = TableReader::new(Table::Visitors, "\"date\",\"visitors\",\"pageviews\"").unwrap_err();
    assert_eq!(err.missing, "bounces, visits, visit_duration");
    assert!(err.to_string().contains("imported_visitors"), "{err}");
    assert!(
        err.to_string()
            .contains("date,visitors,pageviews,bounces,visits,visit_duration"),
        "{err}"
    );
}

#[test]
fn visitors_rows_are_the_days_totals() {
    let reader = TableReader::new(
        Table::Visitors,
        "\u{feff}\"date\",\"visitors\",\"pageviews\",\"bounces\",\"visits\",\"visit_duration\"",
    )
    .unwrap();
    let records = reader.read_row("\"2023-05-01\",10,25,4,12,600").unwrap();
    assert_eq!(
        records,
        vec![ImportedRecord {
            day: day("2023-05-01"),
            dimension: ImportedDimension::Totals,
            value: String::new(),
            metrics: ImportedMetrics {
                visitors: 10,
                visits: 12,
                pageviews: 25,
                bounces: 4,
                visit_duration_secs: 600,
                events: 25,
            },
        }]
    );
    // A row of zeros adds nothing.
    assert!(reader.read_row("2023-05-02,0,0,0,0,0").unwrap().is_empty());
    for bad in [
        "2023-13-01,1,1,1,1,1",
        "2023-05-01,1,x,1,1,1",
        "2023-05-01,1,-1,1,1,1",
        "2023-05-01,1",
        "\"2023-05-01,1,1,1,1,1",
    ] {
        assert!(reader.read_row(bad).is_err(), "{bad}");
    }
}

#[test]
fn a_sources_row_counts_for_its_source_referrer_and_tags() {
    let header = "date,source,referrer,utm_source,utm_medium,utm_campaign,utm_content,utm_term,\
                  pageviews,visitors,visits,visit_duration,bounces";
    let reader = TableReader::new(Table::Sources, header).unwrap();
    let records = reader
        .read_row("2023-05-01,Google,https://google.com/,,cpc,spring,,,9,3,4,120,1")
        .unwrap();
    let by: Vec<(ImportedDimension, &str)> = records
        .iter()
        .map(|r| (r.dimension, r.value.as_str()))
        .collect();
    assert_eq!(
        by,
        vec![
            (ImportedDimension::Source, "Google"),
            (ImportedDimension::Referrer, "https://google.com/"),
            (ImportedDimension::UtmSource, "(unknown)"),
            (ImportedDimension::UtmMedium, "cpc"),
            (ImportedDimension::UtmCampaign, "spring"),
            (ImportedDimension::UtmContent, "(unknown)"),
            (ImportedDimension::UtmTerm, "(unknown)"),
        ]
    );
    assert!(records.iter().all(|r| r.metrics.visits == 4
        && r.metrics.pageviews == 9
        && r.metrics.visit_duration_secs == 120));
    let direct = reader
        .read_row("2023-05-01,Direct / None,,,,,,,1,1,1,0,1")
        .unwrap();
    assert_eq!(direct[0].value, "(unknown)");

    // An older export: no referrer, utm_source or page views.
    let old = TableReader::new(
        Table::Sources,
        "date,source,utm_medium,utm_campaign,utm_content,utm_term,visitors,visits,visit_duration,bounces",
    )
    .unwrap();
    let records = old
        .read_row("2023-05-01,Twitter,social,,,,2,2,30,1")
        .unwrap();
    assert_eq!(records[0].metrics.pageviews, 0);
    assert_eq!(records.len(), 1 + 4, "{records:?}");
}

#[test]
fn names_become_this_apps_words() {
    let header = |column: &str| format!("date,{column},visitors,visits,visit_duration,bounces");
    let read = |table: Table, column: &str, value: &str| {
        TableReader::new(table, &header(column))
            .unwrap()
            .read_row(&format!("2023-05-01,{value},1,1,1,1"))
            .unwrap()
            .remove(0)
            .value
    };
    assert_eq!(read(Table::Browsers, "browser", "Microsoft Edge"), "Edge");
    assert_eq!(read(Table::Browsers, "browser", "Firefox"), "Firefox");
    assert_eq!(read(Table::Browsers, "browser", ""), "(unknown)");
    assert_eq!(
        read(Table::OperatingSystems, "operating_system", "Mac"),
        "macOS"
    );
    assert_eq!(
        read(Table::OperatingSystems, "operating_system", "GNU/Linux"),
        "Linux"
    );
    assert_eq!(read(Table::Devices, "device", "desktop"), "Desktop");
    assert_eq!(read(Table::Devices, "device", "Toaster"), "Unknown");
    let locations = "date,country,region,city,visitors,visits,visit_duration,bounces,pageviews";
    let reader = TableReader::new(Table::Locations, locations).unwrap();
    let row = reader
        .read_row("2023-05-01,de,DE-BE,2950159,3,4,50,2,7")
        .unwrap();
    assert_eq!((row[0].value.as_str(), row[0].metrics.pageviews), ("DE", 7));
    assert_eq!(
        reader.read_row("2023-05-01,ZZ,,0,1,1,1,1,1").unwrap()[0].value,
        "(unknown)"
    );
}

#[test]
fn pages_entry_and_exit_pages_and_custom_events() {
    let pages = TableReader::new(
        Table::Pages,
        "date,hostname,page,visits,visitors,pageviews,scroll_depth,pageleave_visitors",
    )
    .unwrap();
    let row = pages
        .read_row("2023-05-01,example.com,/blog,5,4,9,\\N,0")
        .unwrap();
    assert_eq!(row[0].dimension, ImportedDimension::Page);
    assert_eq!(row[0].value, "/blog");
    assert_eq!(
        (
            row[0].metrics.visitors,
            row[0].metrics.visits,
            row[0].metrics.pageviews
        ),
        (4, 5, 9)
    );
    let exits = TableReader::new(Table::ExitPages, "date,exit_page,visitors,exits").unwrap();
    let row = exits.read_row("2023-05-01,/bye,2,3").unwrap();
    assert_eq!((row[0].metrics.visits, row[0].metrics.bounces), (3, 0));
    let events = TableReader::new(
        Table::CustomEvents,
        "date,name,link_url,path,visitors,events",
    )
    .unwrap();
    let row = events.read_row("2023-05-01,Signup,,,2,5").unwrap();
    assert_eq!(row[0].dimension, ImportedDimension::Event);
    assert_eq!(
        (row[0].value.as_str(), row[0].metrics.events),
        ("Signup", 5)
    );
    assert!(events.read_row("2023-05-01,,,,2,5").is_err());
}

#[test]
fn breakdowns_map_to_their_imported_dimension() {
    assert_eq!(
        ImportedDimension::of(&Dimension::Page),
        Some(ImportedDimension::Page)
    );
    assert_eq!(ImportedDimension::of(&Dimension::City), None);
    assert_eq!(ImportedDimension::of(&Dimension::Prop("x".into())), None);
    for (code, dimension) in ImportedDimension::ALL.iter().enumerate() {
        assert_eq!(usize::from(dimension.code()), code);
    }
}

proptest! {
    #[test]
    fn any_line_reads_or_is_refused_without_panicking(line in "\\PC{0,120}") {
        for table in Table::ALL {
            let header = table.required().join(",");
            let reader = TableReader::new(table, &header).unwrap();
            let _ = reader.read_row(&line);
        }
    }

    #[test]
    fn any_file_name_reads_or_is_refused(name in "\\PC{0,60}") {
        let _ = parse_file_name(&name);
    }
}
