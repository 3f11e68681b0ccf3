//! A small snapshot helper: compares output with a committed file under
//! `tests/snapshots/`, or rewrites the file when `UPDATE_SNAPSHOTS=1`.

use std::fs;
use std::path::PathBuf;

/// Where the snapshot called `name` lives.
fn snapshot_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(format!("{name}.svg"))
}

/// Asserts that `actual` equals the committed snapshot `name`.
///
/// On a mismatch the new output is written beside the snapshot as
/// `NAME.svg.new` (ignored by git) and the first differing line is shown.
pub fn assert_snapshot(name: &str, actual: &str) {
    let path = snapshot_path(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some_and(|value| value == "1") {
        fs::write(&path, actual).expect("write snapshot");
        return;
    }
    let Ok(expected) = fs::read_to_string(&path) else {
        panic!(
            "missing snapshot {}: run the tests with UPDATE_SNAPSHOTS=1 to create it",
            path.display()
        );
    };
    if expected == actual {
        return;
    }
    let new_path = path.with_extension("svg.new");
    fs::write(&new_path, actual).expect("write new output");
    let line = expected
        .lines()
        .zip(actual.lines())
        .position(|(left, right)| left != right)
        .unwrap_or_else(|| expected.lines().count().min(actual.lines().count()));
    panic!(
        "snapshot {name} differs at line {}:\n expected: {:?}\n   actual: {:?}\n\
         new output: {}\nrun with UPDATE_SNAPSHOTS=1 to accept it",
        line + 1,
        expected.lines().nth(line),
        actual.lines().nth(line),
        new_path.display()
    );
}
