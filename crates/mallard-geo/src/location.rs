//! Where an address is: its country and, when the database is a City
//! database, its region and city, read from one database record.
//!
//! A record is decoded once, borrowing its text from the database, and only
//! the fields asked for are looked at: the country code, either at the top
//! level (`country_code`, ip-location-db's databases) or under
//! `country.iso_code` (MaxMind's and DB-IP's); and, for a full location, the
//! English name of the first subdivision (`subdivisions[0].names.en`, or
//! ip-location-db's `state1`) and of the city (`city.names.en`, or
//! ip-location-db's plain `city`). A region or city field of an unexpected
//! shape counts as absent rather than spoiling the record, so the country
//! of a full location is always the one a country lookup gives.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::CountryCode;

/// The longest region or city name kept, in characters. Real names are far
/// shorter; the cap bounds what a malformed database can put into storage.
pub const MAX_NAME_CHARS: usize = 200;

/// Where an address is, as far as the database knows.
///
/// Every field is `None` when the address is not public, the database does
/// not know it, or its record cannot be read. The region and the city are
/// only ever known together with the country, and only from a City
/// database: the bundled database names countries alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Location {
    /// The country the address is in.
    pub country: Option<CountryCode>,
    /// The English name of the region (the first subdivision: a state,
    /// province or constituent country), trimmed and at most
    /// [`MAX_NAME_CHARS`] characters long.
    pub region: Option<String>,
    /// The English name of the city, trimmed and at most
    /// [`MAX_NAME_CHARS`] characters long.
    pub city: Option<String>,
}

impl Location {
    /// The location a decoded record describes: nothing without a country,
    /// and names only as cleaned up by [`clean_name`].
    pub(crate) fn from_record(record: &Record<'_>) -> Self {
        let Some(country) = record.country() else {
            return Self::default();
        };
        Self {
            country: Some(country),
            region: clean_name(record.subdivision.0).or_else(|| clean_name(record.state1.0)),
            city: clean_name(record.city.0),
        }
    }
}

/// `name` trimmed and cut to [`MAX_NAME_CHARS`] characters; nothing when it
/// is absent or blank.
fn clean_name(name: Option<&str>) -> Option<String> {
    let name = name?.trim();
    if name.is_empty() {
        return None;
    }
    let end = name
        .char_indices()
        .nth(MAX_NAME_CHARS)
        .map_or(name.len(), |(at, _)| at);
    // `end` is a character boundary (or the length), and the first
    // character is not white space, so the cut name is never empty.
    Some(name[..end].trim_end().to_owned())
}

/// The parts of a record [`crate::Geolocator::country`] reads, borrowed
/// from the database. Nothing else is decoded, so this is the cheapest
/// answer to "which country?".
#[derive(Deserialize)]
pub(crate) struct CountryRecord<'a> {
    #[serde(borrow, default)]
    country_code: Option<&'a str>,
    #[serde(borrow, default)]
    country: Option<IsoCode<'a>>,
}

impl CountryRecord<'_> {
    /// The record's country (see [`country_of`]).
    pub(crate) fn country(&self) -> Option<CountryCode> {
        country_of(self.country_code, self.country.as_ref())
    }
}

/// The parts of a record [`crate::Geolocator::locate`] reads, borrowed from
/// the database: the country exactly as in [`CountryRecord`], plus the
/// region and city names.
#[derive(Deserialize)]
pub(crate) struct Record<'a> {
    #[serde(borrow, default)]
    country_code: Option<&'a str>,
    #[serde(borrow, default)]
    country: Option<IsoCode<'a>>,
    #[serde(borrow, default, rename = "subdivisions")]
    subdivision: Lenient<'a, FirstPlace>,
    #[serde(borrow, default)]
    state1: Lenient<'a, Place>,
    #[serde(borrow, default)]
    city: Lenient<'a, Place>,
}

impl Record<'_> {
    /// The record's country (see [`country_of`]).
    pub(crate) fn country(&self) -> Option<CountryCode> {
        country_of(self.country_code, self.country.as_ref())
    }
}

/// A record's country: the top-level code (ip-location-db's layout) when
/// there is one, else the one under `country` (MaxMind's and DB-IP's).
fn country_of(country_code: Option<&str>, country: Option<&IsoCode<'_>>) -> Option<CountryCode> {
    let code = country_code.or_else(|| country.and_then(|country| country.iso_code))?;
    CountryCode::parse(code)
}

/// A nested `{ "iso_code": ... }` map.
#[derive(Deserialize)]
struct IsoCode<'a> {
    #[serde(borrow, default)]
    iso_code: Option<&'a str>,
}

/// The name found in a field of shape `S`, or nothing when the field has
/// another shape: such a field is skipped, never an error.
struct Lenient<'a, S>(Option<&'a str>, PhantomData<S>);

impl<S> Default for Lenient<'_, S> {
    fn default() -> Self {
        Self(None, PhantomData)
    }
}

impl<'de: 'a, 'a, S: Shaped> Deserialize<'de> for Lenient<'a, S> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = Pick(S::SHAPE).deserialize(deserializer)?;
        Ok(Self(name, PhantomData))
    }
}

/// A field shape, named at the type level for [`Lenient`].
trait Shaped {
    const SHAPE: Shape;
}

/// A place: its name as text, or a map whose `names.en` is the name.
struct Place;

impl Shaped for Place {
    const SHAPE: Shape = Shape::Place;
}

/// A list of places, of which the first is the one wanted.
struct FirstPlace;

impl Shaped for FirstPlace {
    const SHAPE: Shape = Shape::FirstPlace;
}

/// What a name is looked for in.
#[derive(Clone, Copy)]
enum Shape {
    /// Text, which is the name.
    Text,
    /// A `names` map: the name is its `en` entry.
    Names,
    /// Text, or a map whose `names` entry holds the name.
    Place,
    /// A list whose first element is a place.
    FirstPlace,
}

/// Reads a name out of a value of the given shape, skipping (and consuming)
/// anything else, so that the decoder always ends up past the value.
#[derive(Clone, Copy)]
struct Pick(Shape);

impl<'de> DeserializeSeed<'de> for Pick {
    type Value = Option<&'de str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Pick {
    type Value = Option<&'de str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a place name")
    }

    fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Self::Value, E> {
        Ok(match self.0 {
            Shape::Text | Shape::Place => Some(text),
            Shape::Names | Shape::FirstPlace => None,
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let wanted = match self.0 {
            Shape::Names => Some(("en", Shape::Text)),
            Shape::Place => Some(("names", Shape::Names)),
            Shape::Text | Shape::FirstPlace => None,
        };
        let mut found = None;
        while let Some(key) = map.next_key_seed(Pick(Shape::Text))? {
            match wanted {
                Some((name, shape)) if key == Some(name) && found.is_none() => {
                    found = map.next_value_seed(Pick(shape))?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(found)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let found = match self.0 {
            Shape::FirstPlace => seq.next_element_seed(Pick(Shape::Place))?.flatten(),
            Shape::Text | Shape::Names | Shape::Place => None,
        };
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(found)
    }

    // Every other kind of value is not a name. Text that cannot be borrowed
    // does not occur in a MaxMind DB; it counts as no name too.

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_i128<E: de::Error>(self, _: i128) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_u128<E: de::Error>(self, _: u128) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_blank_ones_dropped() {
        assert_eq!(clean_name(Some("  Paris \t")).as_deref(), Some("Paris"));
        assert_eq!(clean_name(Some("")), None);
        assert_eq!(clean_name(Some(" \n ")), None);
        assert_eq!(clean_name(None), None);
    }

    #[test]
    fn long_names_are_cut_at_a_character_boundary() {
        let long = "ё".repeat(MAX_NAME_CHARS + 50);
        let cut = clean_name(Some(&long)).unwrap();
        assert_eq!(cut.chars().count(), MAX_NAME_CHARS);
        assert!(cut.chars().all(|c| c == 'ё'));
        let exact = "a".repeat(MAX_NAME_CHARS);
        assert_eq!(clean_name(Some(&exact)).unwrap(), exact);
        // A cut that ends in white space loses it.
        let spaced = format!("{} b", "a".repeat(MAX_NAME_CHARS - 1));
        assert_eq!(
            clean_name(Some(&spaced)).unwrap(),
            "a".repeat(MAX_NAME_CHARS - 1)
        );
    }
}
