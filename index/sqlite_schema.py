"""Versioned schema of the SQLite store. Append a migration; never edit a released one."""

from __future__ import annotations

MIGRATIONS: list[tuple[int, str]] = [
    (
        1,
        """
        CREATE TABLE ads (
            id TEXT PRIMARY KEY,
            source TEXT NOT NULL,
            url TEXT NOT NULL,
            site_id TEXT,
            title TEXT NOT NULL DEFAULT '',
            text TEXT NOT NULL DEFAULT '',
            posted_at TEXT,
            first_seen_at TEXT NOT NULL,
            last_seen_at TEXT NOT NULL,
            removed_at TEXT,
            seen_date TEXT NOT NULL,          -- posted_at, else first_seen_at: what date filters use
            location TEXT,
            poster TEXT,
            age INTEGER,
            price INTEGER,
            currency TEXT,
            phone_field TEXT,
            images TEXT NOT NULL DEFAULT '[]',
            phones TEXT NOT NULL DEFAULT '[]',
            phone_details TEXT NOT NULL DEFAULT '[]',
            contacts TEXT NOT NULL DEFAULT '[]',
            towns TEXT NOT NULL DEFAULT '[]',
            town TEXT,
            county TEXT,
            lat REAL,
            lon REAL,
            language TEXT,
            indicators TEXT NOT NULL DEFAULT '[]',
            indicator_score REAL NOT NULL DEFAULT 0,
            evidence TEXT,
            content_hash TEXT,
            version INTEGER NOT NULL DEFAULT 1
        );
        CREATE INDEX ads_seen_date ON ads(seen_date);
        CREATE INDEX ads_source ON ads(source, seen_date);
        CREATE INDEX ads_town ON ads(town);

        CREATE TABLE ad_versions (
            ad_id TEXT NOT NULL,
            version INTEGER NOT NULL,
            content_hash TEXT,
            title TEXT,
            text TEXT,
            phones TEXT,
            replaced_at TEXT NOT NULL,
            PRIMARY KEY (ad_id, version)
        );

        CREATE TABLE ad_phones (
            ad_id TEXT NOT NULL,
            e164 TEXT NOT NULL,
            PRIMARY KEY (e164, ad_id)
        );
        CREATE INDEX ad_phones_ad ON ad_phones(ad_id);

        CREATE TABLE ad_towns (
            ad_id TEXT NOT NULL,
            town TEXT NOT NULL,
            PRIMARY KEY (town, ad_id)
        );
        CREATE INDEX ad_towns_ad ON ad_towns(ad_id);

        CREATE TABLE phones (
            e164 TEXT PRIMARY KEY,
            first_seen_at TEXT NOT NULL,
            first_town TEXT,
            first_ad TEXT,
            last_seen_at TEXT NOT NULL,
            ads_count INTEGER NOT NULL DEFAULT 0,
            towns TEXT NOT NULL DEFAULT '[]'
        );

        CREATE TABLE crawl_runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            source TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            status TEXT NOT NULL DEFAULT 'running',
            pages INTEGER NOT NULL DEFAULT 0,
            new_ads INTEGER NOT NULL DEFAULT 0,
            updated_ads INTEGER NOT NULL DEFAULT 0,
            removed_ads INTEGER NOT NULL DEFAULT 0,
            errors INTEGER NOT NULL DEFAULT 0,
            reason TEXT,
            stats TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX crawl_runs_source ON crawl_runs(source, started_at);

        -- Full text over title + text; diacritics folded so "Gavle" finds "Gävle".
        CREATE VIRTUAL TABLE ads_fts USING fts5(
            title, text, content='ads', content_rowid='rowid',
            tokenize='unicode61 remove_diacritics 2'
        );
        CREATE TRIGGER ads_fts_insert AFTER INSERT ON ads BEGIN
            INSERT INTO ads_fts(rowid, title, text) VALUES (new.rowid, new.title, new.text);
        END;
        CREATE TRIGGER ads_fts_delete AFTER DELETE ON ads BEGIN
            INSERT INTO ads_fts(ads_fts, rowid, title, text) VALUES ('delete', old.rowid, old.title, old.text);
        END;
        CREATE TRIGGER ads_fts_update AFTER UPDATE OF title, text ON ads BEGIN
            INSERT INTO ads_fts(ads_fts, rowid, title, text) VALUES ('delete', old.rowid, old.title, old.text);
            INSERT INTO ads_fts(rowid, title, text) VALUES (new.rowid, new.title, new.text);
        END;
        """,
    ),
]

MIGRATIONS.append((
    2,
    """
    -- Indicator categories as rows, like towns: "--category" is an index lookup, not a JSON scan.
    CREATE TABLE ad_categories (
        ad_id TEXT NOT NULL,
        category TEXT NOT NULL,
        PRIMARY KEY (category, ad_id)
    );
    CREATE INDEX ad_categories_ad ON ad_categories(ad_id);
    INSERT OR IGNORE INTO ad_categories
        SELECT a.id, json_extract(i.value, '$.category') FROM ads a, json_each(a.indicators) i
        WHERE json_extract(i.value, '$.category') IS NOT NULL;
    -- "--near": a latitude band first.
    CREATE INDEX ads_lat ON ads(lat);
    """,
))

MIGRATIONS.append((
    3,
    """
    -- The county of the town a number was first seen in: trends of new numbers by county.
    ALTER TABLE phones ADD COLUMN first_county TEXT;
    UPDATE phones SET first_county = (SELECT county FROM ads WHERE ads.id = phones.first_ad);
    CREATE INDEX phones_first_seen ON phones(first_seen_at);
    """,
))

MIGRATIONS.append((
    4,
    """
    -- Complete crawls in a row that did not find the ad in its listings (reset when it is seen).
    ALTER TABLE ads ADD COLUMN missing_count INTEGER NOT NULL DEFAULT 0;
    """,
))

MIGRATIONS.append((
    5,
    """
    -- The nearest highway to the ad's town and the distance to it (alerts, "near E4").
    ALTER TABLE ads ADD COLUMN road TEXT;
    ALTER TABLE ads ADD COLUMN road_km REAL;
    """,
))

MIGRATIONS.append((
    6,
    """
    -- Alerts (alerts/): one row per rule, number and road (the key), whatever replays or
    -- concurrent crawls raise it again. Deliveries per channel as JSON; "undelivered" is
    -- set while any channel still waits, so "alerts deliver" finds them by index.
    CREATE TABLE alerts (
        id TEXT PRIMARY KEY,
        key TEXT NOT NULL UNIQUE,
        rule TEXT NOT NULL,
        kind TEXT NOT NULL,
        phone TEXT NOT NULL,
        ad TEXT,
        town TEXT,
        road TEXT,
        km REAL,
        created_at TEXT NOT NULL,
        details TEXT NOT NULL DEFAULT '{}',
        deliveries TEXT NOT NULL DEFAULT '{}',
        undelivered INTEGER NOT NULL DEFAULT 0,
        acked_at TEXT,
        acked_by TEXT
    );
    CREATE INDEX alerts_created ON alerts(created_at);
    CREATE INDEX alerts_undelivered ON alerts(undelivered) WHERE undelivered = 1;
    CREATE INDEX ads_last_seen ON ads(last_seen_at);
    """,
))

MIGRATIONS.append((
    7,
    """
    -- Saved searches (issue 14): an analyst's query (SearchQuery.to_dict() as JSON), checked
    -- against every written batch by the saved_search alert rule.
    CREATE TABLE saved_searches (
        id TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        name TEXT NOT NULL,
        query TEXT NOT NULL DEFAULT '{}',
        created_at TEXT NOT NULL
    );
    CREATE INDEX saved_searches_owner ON saved_searches(owner, created_at);
    """,
))

MIGRATIONS.append((
    8,
    """
    -- The audit log (issue 14): who did what, when, with which parameters and how many
    -- results; each entry carries the hash of the one before (index/audit_chain.py).
    -- seq is the rowid: appended in one BEGIN IMMEDIATE transaction, so it never forks.
    CREATE TABLE audit (
        seq INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        user TEXT NOT NULL,
        action TEXT NOT NULL,
        params TEXT NOT NULL DEFAULT '{}',
        result_count INTEGER,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    );
    CREATE INDEX audit_at ON audit(at);
    CREATE INDEX audit_user ON audit(user, seq);
    CREATE INDEX audit_action ON audit(action, seq);
    -- Append-only: adwatch never changes or removes an entry. A layer, not the proof: someone
    -- with the file can drop these, and then 'adwatch audit verify' finds what they changed.
    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN
        SELECT RAISE(ABORT, 'the audit log is append-only');
    END;
    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN
        SELECT RAISE(ABORT, 'the audit log is append-only');
    END;
    """,
))

MIGRATIONS.append((
    9,
    """
    -- The web UI's search filters (issue 14): the ad's primary county and language (its primary
    -- town has ads_town since v1); each also reads its facet from the index when nothing is filtered.
    CREATE INDEX IF NOT EXISTS ads_county ON ads(county);
    CREATE INDEX IF NOT EXISTS ads_language ON ads(language);
    -- The town and category facets look up each hit's rows: with the value in the index, one
    -- look-up instead of two (a third less time at 40,000 hits).
    DROP INDEX IF EXISTS ad_towns_ad;
    CREATE INDEX ad_towns_ad ON ad_towns(ad_id, town);
    DROP INDEX IF EXISTS ad_categories_ad;
    CREATE INDEX ad_categories_ad ON ad_categories(ad_id, category);
    """,
))

MIGRATIONS.append((
    10,
    """
    -- "Within X km of a town": the box's longitude is checked in the index too, so only ads inside
    -- the box are read (lat alone read every ad in a band around the earth: 190 ms → 100 ms at p95).
    DROP INDEX IF EXISTS ads_lat;
    CREATE INDEX IF NOT EXISTS ads_lat_lon ON ads(lat, lon);
    """,
))

MIGRATIONS.append((
    11,
    """
    -- Evidence (issue 15): a replaced version keeps the records it was read from. (An ADD COLUMN
    -- whose column exists is skipped by migrate(): this migration may meet a file set back to v10.)
    ALTER TABLE ad_versions ADD COLUMN evidence TEXT;
    -- The last sighting among a number's purged ads: the alerts' look-back still measures from it
    -- when the ads are gone and the registry entry is not (adwatch/retention/policy.py).
    ALTER TABLE phones ADD COLUMN purged_last_seen_at TEXT;
    -- Retention: versions found by when they were replaced.
    CREATE INDEX IF NOT EXISTS ad_versions_replaced ON ad_versions(replaced_at);
    CREATE INDEX IF NOT EXISTS crawl_runs_started ON crawl_runs(started_at);
    CREATE INDEX IF NOT EXISTS phones_last_seen ON phones(last_seen_at);
    -- Legal holds: what a case keeps from purge (index/store.py HoldStore). Released holds stay.
    CREATE TABLE IF NOT EXISTS holds (
        id TEXT PRIMARY KEY,
        case_name TEXT NOT NULL,
        kind TEXT NOT NULL,
        value TEXT NOT NULL,
        ads TEXT NOT NULL DEFAULT '[]',
        held_by TEXT NOT NULL,
        held_at TEXT NOT NULL,
        released_by TEXT,
        released_at TEXT
    );
    CREATE INDEX IF NOT EXISTS holds_case ON holds(case_name, held_at);
    """,
))

LATEST = MIGRATIONS[-1][0]
