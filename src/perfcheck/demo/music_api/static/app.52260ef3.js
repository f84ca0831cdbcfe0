// The music API's web player: lists a user's playlists, plays a song, and joins a
// listening session over Socket.IO. Built and content-hashed like any bundler output.
(function () {
  "use strict";

  var state = { userId: null, playlist: null, session: null, queue: [] };

  function $(selector) {
    return document.querySelector(selector);
  }

  function api(path, options) {
    return fetch("/api" + path, Object.assign({ headers: { Accept: "application/json" } }, options || {}))
      .then(function (response) {
        if (!response.ok) {
          return response.json().then(function (body) {
            throw new Error(body.error ? body.error.message : response.statusText);
          });
        }
        return response.json();
      });
  }

  function formatDuration(seconds) {
    var minutes = Math.floor(seconds / 60);
    var rest = String(seconds % 60).padStart(2, "0");
    return minutes + ":" + rest;
  }

  function renderPlaylists(items) {
    var list = $("#playlists");
    list.innerHTML = "";
    items.forEach(function (item) {
      var li = document.createElement("li");
      li.textContent = item.name;
      li.dataset.id = item.id;
      li.addEventListener("click", function () { openPlaylist(item.id); });
      list.appendChild(li);
    });
  }

  function renderSongs(songs) {
    var table = $("#songs tbody");
    table.innerHTML = "";
    songs.forEach(function (song) {
      var row = document.createElement("tr");
      [song.position, song.title, song.artist, formatDuration(song.duration_s)].forEach(function (value) {
        var cell = document.createElement("td");
        cell.textContent = value;
        row.appendChild(cell);
      });
      row.addEventListener("click", function () { play(song); });
      table.appendChild(row);
    });
  }

  function openPlaylist(id) {
    api("/playlists/" + id).then(function (playlist) {
      state.playlist = playlist;
      state.queue = playlist.songs.slice();
      $("#playlist-name").textContent = playlist.name;
      renderSongs(playlist.songs);
    }).catch(showError);
  }

  function play(song) {
    var audio = $("#player");
    audio.src = "/api/songs/" + song.id + "/stream";
    audio.play();
    $("#now-playing").textContent = song.title + " — " + song.artist;
    if (state.userId) {
      api("/plays", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ user_id: state.userId, song_id: song.id })
      }).catch(showError);
    }
  }

  function loadRecentlyPlayed() {
    api("/users/" + state.userId + "/recently-played?limit=10").then(function (body) {
      var list = $("#recent");
      list.innerHTML = "";
      body.items.forEach(function (item) {
        var li = document.createElement("li");
        li.textContent = item.title + " — " + item.artist;
        list.appendChild(li);
      });
    }).catch(showError);
  }

  function joinSession(code) {
    if (!window.io) { return showError(new Error("Socket.IO client not loaded")); }
    var socket = window.io({ path: "/socket.io/" });
    socket.emit("join", { code: code }, function (answer) {
      if (answer.error) { return showError(new Error(answer.error.message)); }
      state.session = answer.joined;
      $("#session").textContent = "In session " + answer.joined;
    });
    socket.on("now_playing", function (event) {
      $("#session-song").textContent = "Now playing song #" + event.song_id;
    });
  }

  function showError(error) {
    var box = $("#error");
    box.textContent = error.message;
    box.hidden = false;
    setTimeout(function () { box.hidden = true; }, 4000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    $("#login").addEventListener("submit", function (event) {
      event.preventDefault();
      var email = $("#email").value;
      api("/users/lookup?email=" + encodeURIComponent(email)).then(function (user) {
        state.userId = user.id;
        $("#welcome").textContent = "Hello, " + user.display_name;
        return api("/users/" + user.id + "/playlists?page=1");
      }).then(function (body) {
        renderPlaylists(body.items);
        loadRecentlyPlayed();
      }).catch(showError);
    });
    $("#join").addEventListener("submit", function (event) {
      event.preventDefault();
      joinSession($("#code").value);
    });
  });
})();
