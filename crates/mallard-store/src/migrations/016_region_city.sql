-- The region (first subdivision) and city of a visit, as `dims` ids of kinds
-- 19 and 20, known when a city database (`geoip_database`) placed the
-- visitor's address. Visits stored before stay unknown. Day segments carry
-- them as the last two columns of their attributes part; a segment packed
-- before has thirteen fewer bytes there and reads them as unknown.
ALTER TABLE visits ADD COLUMN region INTEGER;
ALTER TABLE visits ADD COLUMN city INTEGER;
