#!/usr/bin/env python3
"""Makes city-test.mmdb, the synthetic City database that mallard-geo's tests read.

What it makes: a tiny MaxMind DB (a few KB) whose metadata says database type
"GeoLite2-City", so `Geolocator::open` accepts it, with a handful of made-up
records in MaxMind's City layout (`country.iso_code`, `subdivisions[i].names`,
`city.names`), one in ip-location-db's flat city layout (`country_code`,
`state1`, `city`), and some deliberately odd ones (an empty name, a name with
no English spelling, a record with no country, fields of the wrong type, a
record that is not a map, entries for private ranges that must never be
looked up). Every network is a public one except the private ranges. None of
the data comes from MaxMind, DB-IP or any other real database: the places are
plausible, not authoritative. The tree is IPv6 with the IPv4 networks under
::/96 (ipv4_compatible=True), as in MaxMind's own databases, so that IPv4
lookups work. The build epoch is fixed, so the output is reproducible.

To regenerate (from the repository root):

    python3 -m venv /tmp/mmdbvenv
    /tmp/mmdbvenv/bin/pip install mmdb-writer==0.2.7 netaddr==1.3.0
    /tmp/mmdbvenv/bin/python crates/mallard-geo/tests/data/make_city_test_db.py

then run `cargo test -p mallard-geo`, whose tests state what each network
must answer.
"""

from pathlib import Path

from mmdb_writer import MMDBWriter
from netaddr import IPSet

OUTPUT = Path(__file__).with_name("city-test.mmdb")

# 2026-01-01T00:00:00Z, fixed so that regenerating gives the same bytes.
BUILD_EPOCH = 1_767_225_600


class FixedEpochWriter(MMDBWriter):
    """MMDBWriter with a fixed build epoch instead of the current time."""

    def _build_meta(self):
        meta = super()._build_meta()
        meta["build_epoch"] = BUILD_EPOCH
        return meta


def names(en, **others):
    """A MaxMind `names` map, with other languages first so that readers
    must skip them to find the English one."""
    out = dict(others)
    if en is not None:
        out["en"] = en
    return out


def country(iso_code, en):
    return {"geoname_id": 1, "iso_code": iso_code, "names": names(en, de=en)}


def subdivision(iso_code, en, **others):
    return {"geoname_id": 2, "iso_code": iso_code, "names": names(en, **others)}


def city(en, **others):
    return {"geoname_id": 3, "names": names(en, **others)}


def maxmind(country_code, country_name, subdivisions=None, city_record=None):
    """A record in the GeoLite2-City layout, with the fields a real one has
    around the ones mallard-geo reads."""
    record = {
        "continent": {"code": "XX", "geoname_id": 4, "names": names("Somewhere")},
        "country": country(country_code, country_name),
        "location": {"accuracy_radius": 100, "latitude": 1.5, "longitude": -2.25},
        "registered_country": country(country_code, country_name),
    }
    if subdivisions is not None:
        record["subdivisions"] = subdivisions
    if city_record is not None:
        record["city"] = city_record
    return record


# What the private ranges say: a full record, which must never be seen.
INTRANET = maxmind(
    "US", "United States", [subdivision("CA", "California")], city("Intranet")
)

RECORDS = [
    (
        "81.2.69.0/24",
        maxmind(
            "GB", "United Kingdom", [subdivision("ENG", "England")], city("London")
        ),
    ),
    (
        "8.8.8.0/24",
        maxmind(
            "US",
            "United States",
            [subdivision("CA", "California")],
            city("Mountain View"),
        ),
    ),
    (
        "193.99.144.0/24",
        maxmind(
            "DE",
            "Germany",
            [subdivision("NI", "Lower Saxony", de="Niedersachsen")],
            city("Hanover", de="Hannover"),
        ),
    ),
    (
        "2a02:2e0::/32",
        maxmind("DE", "Germany", [subdivision("BE", "Berlin")], city("Berlin")),
    ),
    # Country only: no subdivision, no city.
    ("200.160.0.0/20", maxmind("BR", "Brazil")),
    # A subdivision whose English name is empty, and no city.
    ("1.1.1.0/24", maxmind("AU", "Australia", [subdivision("NSW", "")])),
    # Two subdivisions: the first is the region.
    (
        "80.58.0.0/24",
        maxmind(
            "ES",
            "Spain",
            [subdivision("CT", "Catalonia"), subdivision("B", "Barcelona")],
            city("Barcelona"),
        ),
    ),
    # Names with no English spelling, and one padded with spaces.
    (
        "45.0.0.0/24",
        maxmind(
            "FR",
            "France",
            [subdivision("IDF", None, fr="Île-de-France")],
            city("  Paris \t"),
        ),
    ),
    # A padded region and a city name longer than any place's (250
    # two-byte characters), which is cut to 200 characters.
    (
        "77.88.0.0/24",
        maxmind(
            "RU",
            "Russia",
            [subdivision("MOW", "  Moscow  ")],
            city("ё" * 250),
        ),
    ),
    # ip-location-db's flat city layout.
    (
        "145.100.0.0/24",
        {
            "city": "Amsterdam",
            "country_code": "NL",
            "latitude": 52.37,
            "longitude": 4.89,
            "postcode": "1012",
            "state1": "North Holland",
            "state2": "",
            "timezone": "Europe/Amsterdam",
        },
    ),
    # No country (only a registered one): region and city are dropped.
    (
        "9.9.9.0/24",
        {
            "registered_country": country("US", "United States"),
            "subdivisions": [subdivision("CA", "California")],
            "city": city("Berkeley"),
        },
    ),
    # Fields of the wrong type: the country still counts.
    (
        "62.4.0.0/24",
        {
            "country": country("IT", "Italy"),
            "subdivisions": "Lazio",
            "city": ["Rome"],
        },
    ),
    # Not a map at all: undecodable, so nothing is known.
    ("2.2.2.0/24", "not a record"),
    # Private ranges, which a lookup must never reach.
    ("10.0.0.0/8", INTRANET),
    ("192.168.0.0/16", INTRANET),
    ("fd00::/8", INTRANET),
]


def main():
    writer = FixedEpochWriter(
        ip_version=6,
        ipv4_compatible=True,
        database_type="GeoLite2-City",
        languages=["en"],
        description={"en": "mallard-geo synthetic City test database"},
    )
    for network, record in RECORDS:
        writer.insert_network(IPSet([network]), record)
    writer.to_db_file(str(OUTPUT))
    print(f"wrote {OUTPUT} ({OUTPUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
