//! The world's country shapes, decoded once from the embedded TopoJSON
//! (Natural Earth 1:110m, see `assets/world/README.md`) and projected with
//! the Equal Earth projection.
//!
//! TopoJSON stores each shared border once as an "arc" of quantized,
//! delta-encoded points; a polygon's ring lists its arcs by index, a
//! negative index `i` meaning arc `!i` walked backwards. Decoding follows
//! the TopoJSON specification (sections 2.1.3 to 2.2).

mod codes;

use std::sync::OnceLock;

use serde::Deserialize;

use crate::error::ChartError;

/// The embedded shapes.
static TOPOLOGY: &str = include_str!("../assets/world/countries-110m.json");

/// One country: its code, its name and its rings in projected coordinates.
#[derive(Debug)]
pub(crate) struct CountryShape {
    /// The ISO 3166-1 alpha-2 code, when the country has one.
    pub alpha2: Option<&'static str>,
    /// The English short name the shapes carry ("Germany").
    pub name: String,
    /// Outer rings and holes alike, each a closed list of projected points
    /// (see [`equal_earth`]); holes are drawn by painting order, as lakes
    /// are not separate countries at this scale.
    pub rings: Vec<Vec<(f64, f64)>>,
}

/// Every country but Antarctica (which would take a fifth of the map and
/// never has visitors), decoded on first use.
pub(crate) fn countries() -> Result<&'static [CountryShape], ChartError> {
    static SHAPES: OnceLock<Result<Vec<CountryShape>, String>> = OnceLock::new();
    SHAPES
        .get_or_init(|| decode(TOPOLOGY))
        .as_deref()
        .map_err(|message| ChartError::Render(format!("world shapes: {message}")))
}

/// The projected bounds of every ring: `(min_x, min_y, max_x, max_y)`.
pub(crate) fn bounds(shapes: &[CountryShape]) -> (f64, f64, f64, f64) {
    let mut bounds = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for &(x, y) in shapes.iter().flat_map(|s| &s.rings).flatten() {
        bounds = (
            bounds.0.min(x),
            bounds.1.min(y),
            bounds.2.max(x),
            bounds.3.max(y),
        );
    }
    bounds
}

/// The Equal Earth projection (Šavrič, Patterson and Jenny, 2018) of a
/// longitude and latitude in degrees, with y growing northwards.
pub(crate) fn equal_earth(longitude: f64, latitude: f64) -> (f64, f64) {
    const A1: f64 = 1.340_264;
    const A2: f64 = -0.081_106;
    const A3: f64 = 0.000_893;
    const A4: f64 = 0.003_796;
    let lambda = longitude.to_radians();
    let phi = latitude.to_radians();
    let theta = ((3f64.sqrt() / 2.0) * phi.sin()).asin();
    let t2 = theta * theta;
    let t6 = t2 * t2 * t2;
    let x = 2.0 * 3f64.sqrt() * lambda * theta.cos()
        / (3.0 * (9.0 * A4 * t6 * t2 + 7.0 * A3 * t6 + 3.0 * A2 * t2 + A1));
    let y = theta * (A4 * t6 * t2 + A3 * t6 + A2 * t2 + A1);
    (x, y)
}

/// The parts of a TopoJSON topology read here.
#[derive(Deserialize)]
struct Topology {
    transform: Transform,
    arcs: Vec<Vec<[i64; 2]>>,
    objects: Objects,
}

#[derive(Deserialize)]
struct Transform {
    scale: [f64; 2],
    translate: [f64; 2],
}

#[derive(Deserialize)]
struct Objects {
    countries: Collection,
}

#[derive(Deserialize)]
struct Collection {
    geometries: Vec<Geometry>,
}

#[derive(Deserialize)]
struct Geometry {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    arcs: serde_json::Value,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    properties: Properties,
}

#[derive(Deserialize, Default)]
struct Properties {
    #[serde(default)]
    name: String,
}

/// Decodes the topology's countries.
fn decode(text: &str) -> Result<Vec<CountryShape>, String> {
    let topology: Topology = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let arcs = decode_arcs(&topology);
    let mut shapes = Vec::with_capacity(topology.objects.countries.geometries.len());
    for geometry in topology.objects.countries.geometries {
        let alpha2 = match geometry.id.as_deref() {
            Some(numeric) => codes::NUMERIC_TO_ALPHA2
                .binary_search_by(|(code, _)| code.cmp(&numeric))
                .ok()
                .map(|at| codes::NUMERIC_TO_ALPHA2[at].1),
            None if geometry.properties.name == "Kosovo" => Some("XK"),
            None => None,
        };
        if alpha2 == Some("AQ") {
            continue;
        }
        let polygons: Vec<Vec<Vec<i64>>> = match geometry.kind.as_str() {
            "Polygon" => vec![serde_json::from_value(geometry.arcs).map_err(|e| e.to_string())?],
            "MultiPolygon" => serde_json::from_value(geometry.arcs).map_err(|e| e.to_string())?,
            _ => continue,
        };
        let mut rings = Vec::new();
        for ring in polygons.iter().flatten() {
            let ring = stitch(ring, &arcs)?;
            rings.extend(
                split_at_antimeridian(ring)
                    .into_iter()
                    .map(|piece| piece.into_iter().map(|(x, y)| equal_earth(x, y)).collect()),
            );
        }
        shapes.push(CountryShape {
            alpha2,
            name: geometry.properties.name,
            rings,
        });
    }
    Ok(shapes)
}

/// Every arc as absolute longitudes and latitudes.
fn decode_arcs(topology: &Topology) -> Vec<Vec<(f64, f64)>> {
    let [sx, sy] = topology.transform.scale;
    let [tx, ty] = topology.transform.translate;
    topology
        .arcs
        .iter()
        .map(|arc| {
            let (mut x, mut y) = (0i64, 0i64);
            arc.iter()
                .map(|&[dx, dy]| {
                    x += dx;
                    y += dy;
                    (x as f64 * sx + tx, y as f64 * sy + ty)
                })
                .collect()
        })
        .collect()
}

/// Joins a ring's arcs: each arc after the first starts where the previous
/// one ended, so its first point is dropped.
fn stitch(ring: &[i64], arcs: &[Vec<(f64, f64)>]) -> Result<Vec<(f64, f64)>, String> {
    let mut points: Vec<(f64, f64)> = Vec::new();
    for &index in ring {
        let (arc_index, reversed) = if index < 0 {
            (!index, true)
        } else {
            (index, false)
        };
        let arc = usize::try_from(arc_index)
            .ok()
            .and_then(|i| arcs.get(i))
            .ok_or_else(|| format!("arc {index} out of range"))?;
        let skip = usize::from(!points.is_empty());
        if reversed {
            points.extend(arc.iter().rev().skip(skip));
        } else {
            points.extend(arc.iter().skip(skip));
        }
    }
    Ok(points)
}

/// A ring that crosses the antimeridian (Russia's Chukotka, Fiji) jumps
/// from one edge of the map to the other; drawn as is, it would paint a band
/// across the whole map. Its longitudes are made continuous (a jump of more
/// than 180 degrees is a crossing), and the part beyond ±180 is cut off
/// (Sutherland–Hodgman against the meridian) and moved to the other edge.
fn split_at_antimeridian(mut ring: Vec<(f64, f64)>) -> Vec<Vec<(f64, f64)>> {
    for i in 1..ring.len() {
        let previous = ring[i - 1].0;
        let point = &mut ring[i].0;
        while *point - previous > 180.0 {
            *point -= 360.0;
        }
        while *point - previous < -180.0 {
            *point += 360.0;
        }
    }
    let (min, max) = ring.iter().fold((f64::MAX, f64::MIN), |(lo, hi), &(x, _)| {
        (lo.min(x), hi.max(x))
    });
    let edge = if max > 180.0 {
        180.0
    } else if min < -180.0 {
        -180.0
    } else {
        return vec![ring];
    };
    let inside = clip(&ring, edge, |x| x * edge.signum() <= edge.abs());
    let outside: Vec<(f64, f64)> = clip(&ring, edge, |x| x * edge.signum() >= edge.abs())
        .into_iter()
        .map(|(x, y)| (x - 2.0 * edge, y))
        .collect();
    [inside, outside]
        .into_iter()
        .filter(|piece| piece.len() >= 4)
        .collect()
}

/// The part of `ring` on the `keep` side of the meridian `edge`, closed.
fn clip(ring: &[(f64, f64)], edge: f64, keep: impl Fn(f64) -> bool) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(ring.len());
    for pair in ring.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        let crossing = || {
            let t = (edge - a.0) / (b.0 - a.0);
            (edge, a.1 + t * (b.1 - a.1))
        };
        match (keep(a.0), keep(b.0)) {
            (true, true) => out.push(b),
            (true, false) => out.push(crossing()),
            (false, true) => {
                out.push(crossing());
                out.push(b);
            }
            (false, false) => {}
        }
    }
    if let Some(&first) = out.first() {
        out.push(first);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn country(code: &str) -> &'static CountryShape {
        countries()
            .unwrap()
            .iter()
            .find(|shape| shape.alpha2 == Some(code))
            .unwrap_or_else(|| panic!("{code} is drawn"))
    }

    #[test]
    fn the_shapes_hold_the_countries_of_the_world_but_antarctica() {
        let shapes = countries().unwrap();
        assert_eq!(shapes.len(), 176);
        assert_eq!(country("DE").name, "Germany");
        assert_eq!(country("XK").name, "Kosovo");
        assert!(shapes.iter().all(|shape| shape.alpha2 != Some("AQ")));
        // Every numeric code in the table is a distinct country.
        let mut alpha2: Vec<_> = shapes.iter().filter_map(|s| s.alpha2).collect();
        alpha2.sort_unstable();
        alpha2.dedup();
        assert_eq!(alpha2.len(), 174);
    }

    #[test]
    fn rings_are_closed_and_lie_where_their_country_is() {
        for shape in countries().unwrap() {
            for ring in &shape.rings {
                assert!(ring.len() >= 4, "{}", shape.name);
                assert_eq!(ring.first(), ring.last(), "{} is closed", shape.name);
            }
        }
        // Germany is north of the equator and east of Greenwich, Brazil
        // south and west, and Germany is north of Brazil.
        let centre = |code| {
            let ring = &country(code).rings[0];
            let n = ring.len() as f64;
            let (x, y) = ring
                .iter()
                .fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
            (x / n, y / n)
        };
        let (de_x, de_y) = centre("DE");
        let (br_x, br_y) = centre("BR");
        assert!(de_x > 0.0 && de_y > 0.0);
        assert!(br_x < 0.0 && br_y < 0.0);
    }

    #[test]
    fn equal_earth_keeps_the_equator_and_meridian_and_is_symmetric() {
        assert_eq!(equal_earth(0.0, 0.0), (0.0, 0.0));
        let (x, y) = equal_earth(180.0, 0.0);
        assert!((x - 2.7066).abs() < 1e-3 && y == 0.0, "{x}");
        let (nx, ny) = equal_earth(-45.0, 60.0);
        let (sx, sy) = equal_earth(45.0, -60.0);
        assert!((nx + sx).abs() < 1e-12 && (ny + sy).abs() < 1e-12);
        // The pole lies at the documented extent.
        assert!((equal_earth(0.0, 90.0).1 - 1.3173).abs() < 1e-3);
    }

    #[test]
    fn rings_across_the_antimeridian_are_cut_at_the_map_edges() {
        // Nothing spans more than half the map's width: before the cut,
        // Russia and Fiji spanned all of it.
        let (min_x, _, max_x, _) = bounds(countries().unwrap());
        for shape in countries().unwrap() {
            for ring in &shape.rings {
                let (lo, hi) = ring.iter().fold((f64::MAX, f64::MIN), |(lo, hi), &(x, _)| {
                    (lo.min(x), hi.max(x))
                });
                assert!(hi - lo < (max_x - min_x) / 2.0, "{}", shape.name);
            }
        }
        // A square from 170 to 190 degrees east becomes two closed pieces,
        // one at each edge.
        let square = vec![
            (170.0, 0.0),
            (-170.0, 0.0),
            (-170.0, 10.0),
            (170.0, 10.0),
            (170.0, 0.0),
        ];
        let pieces = split_at_antimeridian(square);
        assert_eq!(pieces.len(), 2);
        for piece in &pieces {
            assert_eq!(piece.first(), piece.last());
            assert!(piece.iter().all(|&(x, _)| (-180.0..=180.0).contains(&x)));
        }
        let a_square_elsewhere = vec![(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 0.0)];
        assert_eq!(
            split_at_antimeridian(a_square_elsewhere.clone()),
            [a_square_elsewhere]
        );
    }

    #[test]
    fn a_broken_topology_is_an_error_not_a_panic() {
        assert!(decode("{").is_err());
        let bad_arc = r#"{"transform":{"scale":[1,1],"translate":[0,0]},"arcs":[],
            "objects":{"countries":{"geometries":[{"type":"Polygon","arcs":[[5]],"id":"276"}]}}}"#;
        assert!(decode(bad_arc).unwrap_err().contains("out of range"));
    }
}
