-- Realistic volumes, generated inside the server so the seed takes seconds.
-- Deterministic (no random()): the same ids, emails and codes on every run, so the
-- workload can address real rows.
INSERT INTO users (email, display_name, country, created_at)
SELECT 'user' || i || '@example.com',
       'Listener ' || i,
       (ARRAY['US','GB','DE','FR','BR','JP','SE','NL'])[1 + i % 8],
       now() - (i % 1000) * interval '1 day'
FROM generate_series(1::bigint, 100000) AS i;

INSERT INTO songs (title, artist, album, duration_s, released_on)
SELECT 'Song ' || i,
       'Artist ' || (1 + i % 4000),
       'Album ' || (1 + i % 12000),
       (120 + (i * 37) % 240)::int,
       date '1970-01-01' + ((i * 13) % 20000)::int
FROM generate_series(1::bigint, 50000) AS i;

-- 20,000 active users own 100,000 playlists (5 each), spread over two years.
INSERT INTO playlists (user_id, name, is_public, created_at)
SELECT 1 + (i % 20000),
       'Playlist ' || i,
       i % 5 <> 0,
       now() - ((i * 7919) % 730) * interval '1 day' - (i % 86400) * interval '1 second'
FROM generate_series(1::bigint, 100000) AS i;

-- 20 songs per playlist for the first 50,000 playlists.
INSERT INTO playlist_songs (playlist_id, position, song_id, added_at)
SELECT p, pos, 1 + ((p * 31 + pos * 7919) % 50000), now() - (pos * interval '1 hour')
FROM generate_series(1::bigint, 50000) AS p, generate_series(1::bigint, 20) AS pos;

-- 1,000,000 plays over 90 days by the 5,000 most active listeners (200 plays each).
INSERT INTO recently_played (user_id, song_id, played_at)
SELECT 1 + (i * 7) % 5000,
       1 + (i * 104729) % 50000,
       now() - ((i * 6151) % 7776000) * interval '1 second'
FROM generate_series(1::bigint, 1000000) AS i;

INSERT INTO sessions (host_user_id, session_code, song_id, started_at, ended_at)
SELECT 1 + i % 20000,
       upper(substr(md5('session' || i), 1, 8)),
       1 + (i * 13) % 50000,
       now() - (i % 10000) * interval '1 minute',
       CASE WHEN i % 10 = 0 THEN NULL ELSE now() - (i % 10000) * interval '1 minute' + interval '30 minutes' END
FROM generate_series(1::bigint, 100000) AS i;

ALTER TABLE playlists ADD FOREIGN KEY (user_id) REFERENCES users (id);
ALTER TABLE playlist_songs ADD FOREIGN KEY (playlist_id) REFERENCES playlists (id),
                           ADD FOREIGN KEY (song_id) REFERENCES songs (id);
ALTER TABLE recently_played ADD FOREIGN KEY (user_id) REFERENCES users (id),
                            ADD FOREIGN KEY (song_id) REFERENCES songs (id);
ALTER TABLE sessions ADD FOREIGN KEY (host_user_id) REFERENCES users (id),
                     ADD FOREIGN KEY (song_id) REFERENCES songs (id);

-- Fresh planner statistics and visibility map, as a long-running database would have.
VACUUM ANALYZE;
