-- The music API's healthy form (perfcheck demo --fixed), after schema.sql and seed.sql:
-- the indexes its lookups and its foreign keys need, built before the traffic starts.
CREATE INDEX users_email_idx ON users (email);
-- A user's playlists, newest first, by keyset (created_at, id): also the foreign key's index.
CREATE INDEX playlists_user_id_created_at_id_idx ON playlists (user_id, created_at, id);
CREATE INDEX playlist_songs_song_id_idx ON playlist_songs (song_id);
-- A listener's plays, newest first, by keyset (played_at, id): also the foreign key's index.
CREATE INDEX recently_played_user_id_played_at_id_idx ON recently_played (user_id, played_at, id);
CREATE INDEX recently_played_song_id_idx ON recently_played (song_id);
CREATE INDEX sessions_session_code_idx ON sessions (session_code);
CREATE INDEX sessions_host_user_id_idx ON sessions (host_user_id);
CREATE INDEX sessions_song_id_idx ON sessions (song_id);
ANALYZE;
