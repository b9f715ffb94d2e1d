-- migration 1
CREATE TABLE projects (id BIGSERIAL PRIMARY KEY, uid TEXT NOT NULL UNIQUE, name TEXT, description TEXT, metadata JSONB);
CREATE TABLE trial_group (id BIGSERIAL PRIMARY KEY, uid TEXT NOT NULL UNIQUE, name TEXT, description TEXT, metadata JSONB, project_id TEXT);
CREATE INDEX trial_group_project ON trial_group (project_id);
CREATE TABLE trials (id BIGSERIAL PRIMARY KEY, uid TEXT NOT NULL UNIQUE, hash TEXT NOT NULL, revision BIGINT NOT NULL, name TEXT, description TEXT, version TEXT, project_id TEXT, group_id TEXT, status_name TEXT, status_value BIGINT, stale_after DOUBLE PRECISION, parameters JSONB, metadata JSONB, tags JSONB, chronos JSONB, errors JSONB);
CREATE INDEX trials_hash ON trials (hash, revision);
CREATE INDEX trials_project ON trials (project_id);
CREATE INDEX trials_status ON trials (status_value);
CREATE TABLE membership (trial_id BIGINT NOT NULL, group_uid TEXT NOT NULL, PRIMARY KEY (trial_id, group_uid));
CREATE INDEX membership_group ON membership (group_uid, trial_id);
CREATE TABLE series (id BIGSERIAL PRIMARY KEY, trial_id BIGINT NOT NULL, name TEXT NOT NULL, count BIGINT NOT NULL, last_istep BIGINT, last_fstep DOUBLE PRECISION, last_sstep TEXT, last_value DOUBLE PRECISION, last_time DOUBLE PRECISION, UNIQUE (trial_id, name));
CREATE TABLE points (series_id BIGINT NOT NULL, seq BIGINT NOT NULL, istep BIGINT, fstep DOUBLE PRECISION, sstep TEXT, value DOUBLE PRECISION, time DOUBLE PRECISION, PRIMARY KEY (series_id, seq));
CREATE TABLE writers (writer TEXT PRIMARY KEY, last_seq BIGINT NOT NULL);
-- migration 2
CREATE TABLE applied (writer TEXT NOT NULL, first_seq BIGINT NOT NULL, last_seq BIGINT NOT NULL, PRIMARY KEY (writer, first_seq));
INSERT INTO applied (writer, first_seq, last_seq) SELECT writer, 0, last_seq FROM writers;
DROP TABLE writers;
CREATE TABLE requests (id TEXT PRIMARY KEY, kind TEXT NOT NULL, uid TEXT);
-- migration 3
ALTER TABLE projects ADD COLUMN tags JSONB;
ALTER TABLE trial_group ADD COLUMN tags JSONB;
-- migration 4
ALTER TABLE series ADD COLUMN min_value DOUBLE PRECISION;
ALTER TABLE series ADD COLUMN max_value DOUBLE PRECISION;
UPDATE series SET min_value = (SELECT MIN(NULLIF(value, 'NaN')) FROM points WHERE points.series_id = series.id), max_value = (SELECT MAX(NULLIF(value, 'NaN')) FROM points WHERE points.series_id = series.id);
-- migration 5
CREATE TABLE artifacts (trial_id BIGINT NOT NULL, name TEXT NOT NULL, size BIGINT NOT NULL, sha256 TEXT NOT NULL, time DOUBLE PRECISION NOT NULL, media_type TEXT NOT NULL, PRIMARY KEY (trial_id, name));
CREATE INDEX artifacts_sha256 ON artifacts (sha256);
CREATE TABLE artifact_chunks (sha256 TEXT NOT NULL, chunk BIGINT NOT NULL, data BYTEA NOT NULL, PRIMARY KEY (sha256, chunk));
-- migration 6
CREATE TABLE chunks (series_id BIGINT NOT NULL, first_seq BIGINT NOT NULL, count BIGINT NOT NULL, low_step DOUBLE PRECISION, high_step DOUBLE PRECISION, first_time DOUBLE PRECISION, last_time DOUBLE PRECISION, min_value DOUBLE PRECISION, max_value DOUBLE PRECISION, min_at BIGINT, max_at BIGINT, last_value DOUBLE PRECISION, data BYTEA NOT NULL, PRIMARY KEY (series_id, first_seq));
ALTER TABLE series ADD COLUMN open_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE series ADD COLUMN open_chunks BIGINT NOT NULL DEFAULT 0;
-- python: track.persistence.sql.series.points_to_chunks;
DROP TABLE points;
