-- The music API's schema, with the checklist's classic mistakes left in on purpose:
-- no index on users.email, playlists(user_id, created_at), recently_played(user_id,
-- played_at) or sessions.session_code. Only primary keys are indexed.
-- The foreign keys are added at the end of seed.sql, after the bulk load (as pg_restore
-- does): validating them once is far faster than a trigger per inserted row.
CREATE TABLE users (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email       text NOT NULL,
    display_name text NOT NULL,
    country     char(2) NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE songs (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    title       text NOT NULL,
    artist      text NOT NULL,
    album       text NOT NULL,
    duration_s  integer NOT NULL,
    released_on date NOT NULL
);

CREATE TABLE playlists (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     bigint NOT NULL,
    name        text NOT NULL,
    is_public   boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE playlist_songs (
    playlist_id bigint NOT NULL,
    position    integer NOT NULL,
    song_id     bigint NOT NULL,
    added_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (playlist_id, position)
);

CREATE TABLE recently_played (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     bigint NOT NULL,
    song_id     bigint NOT NULL,
    played_at   timestamptz NOT NULL DEFAULT now()
);

-- A listening session that friends join with a short code (the Socket.IO room).
CREATE TABLE sessions (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    host_user_id bigint NOT NULL,
    session_code text NOT NULL,
    song_id      bigint,
    started_at   timestamptz NOT NULL DEFAULT now(),
    ended_at     timestamptz
);
