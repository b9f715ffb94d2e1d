-- migration 1
CREATE TABLE projects (id INTEGER PRIMARY KEY, uid TEXT NOT NULL UNIQUE, name TEXT, description TEXT, metadata TEXT);
CREATE TABLE trial_group (id INTEGER PRIMARY KEY, uid TEXT NOT NULL UNIQUE, name TEXT, description TEXT, metadata TEXT, project_id TEXT);
CREATE INDEX trial_group_project ON trial_group (project_id);
CREATE TABLE trials (id INTEGER PRIMARY KEY, uid TEXT NOT NULL UNIQUE, hash TEXT NOT NULL, revision INTEGER NOT NULL, name TEXT, description TEXT, version TEXT, project_id TEXT, group_id TEXT, status_name TEXT, status_value INTEGER, stale_after REAL, parameters TEXT, metadata TEXT, tags TEXT, chronos TEXT, errors TEXT);
CREATE INDEX trials_hash ON trials (hash, revision);
CREATE INDEX trials_project ON trials (project_id);
CREATE INDEX trials_status ON trials (status_value);
CREATE TABLE membership (trial_id INTEGER NOT NULL, group_uid TEXT NOT NULL, PRIMARY KEY (trial_id, group_uid)) WITHOUT ROWID;
CREATE INDEX membership_group ON membership (group_uid, trial_id);
CREATE TABLE series (id INTEGER PRIMARY KEY, trial_id INTEGER NOT NULL, name TEXT NOT NULL, count INTEGER NOT NULL, last_step, last_value , last_time REAL, UNIQUE (trial_id, name));
CREATE TABLE points (series_id INTEGER NOT NULL, seq INTEGER NOT NULL, step, value, time REAL, PRIMARY KEY (series_id, seq)) WITHOUT ROWID;
CREATE TABLE writers (writer TEXT PRIMARY KEY, last_seq INTEGER NOT NULL) WITHOUT ROWID;
-- migration 2
CREATE TABLE applied (writer TEXT NOT NULL, first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL, PRIMARY KEY (writer, first_seq)) WITHOUT ROWID;
INSERT INTO applied (writer, first_seq, last_seq) SELECT writer, 0, last_seq FROM writers;
DROP TABLE writers;
CREATE TABLE requests (id TEXT PRIMARY KEY, kind TEXT NOT NULL, uid TEXT) WITHOUT ROWID;
-- migration 3
ALTER TABLE projects ADD COLUMN tags TEXT;
ALTER TABLE trial_group ADD COLUMN tags TEXT;
-- migration 4
ALTER TABLE series ADD COLUMN min_value ;
ALTER TABLE series ADD COLUMN max_value ;
UPDATE series SET min_value = (SELECT MIN(value) FROM points WHERE points.series_id = series.id), max_value = (SELECT MAX(value) FROM points WHERE points.series_id = series.id);
-- migration 5
CREATE TABLE artifacts (trial_id INTEGER NOT NULL, name TEXT NOT NULL, size INTEGER NOT NULL, sha256 TEXT NOT NULL, time REAL NOT NULL, media_type TEXT NOT NULL, PRIMARY KEY (trial_id, name)) WITHOUT ROWID;
CREATE INDEX artifacts_sha256 ON artifacts (sha256);
CREATE TABLE artifact_chunks (sha256 TEXT NOT NULL, chunk INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (sha256, chunk)) WITHOUT ROWID;
-- migration 6
CREATE TABLE chunks (series_id INTEGER NOT NULL, first_seq INTEGER NOT NULL, count INTEGER NOT NULL, low_step , high_step , first_time REAL, last_time REAL, min_value , max_value , min_at INTEGER, max_at INTEGER, last_value , data BLOB NOT NULL, PRIMARY KEY (series_id, first_seq));
ALTER TABLE series ADD COLUMN open_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE series ADD COLUMN open_chunks INTEGER NOT NULL DEFAULT 0;
-- python: track.persistence.sql.series.points_to_chunks;
DROP TABLE points;
