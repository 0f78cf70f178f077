// Follow-up and visit-plan forms (no inline scripts: the content security policy forbids them).
//
// - <select data-tom-select> becomes a searchable select; with data-search-url it asks the
//   customers API while typing (the server matches names, pinyin and phone numbers).
// - <button data-geolocate> fills the latitude/longitude hidden fields from the browser's
//   location; its status line shows data-locating / data-located / data-failed texts.
(function () {
  "use strict";

  function initTomSelect(el) {
    if (el.tomselect || typeof window.TomSelect !== "function") return;
    const url = el.dataset.searchUrl;
    const options = {
      maxOptions: 50,
      allowEmptyOption: true,
      placeholder: el.dataset.placeholder || "",
      plugins: {},
    };
    if (url) {
      Object.assign(options, {
        valueField: "value",
        labelField: "text",
        searchField: ["text"],
        // the server already matched pinyin and phone numbers: keep every result it sends
        score: function () {
          return function () {
            return 1;
          };
        },
        shouldLoad: function (query) {
          return query.trim().length > 0;
        },
        load: function (query, callback) {
          const sep = url.indexOf("?") === -1 ? "?" : "&";
          fetch(url + sep + "page_size=20&q=" + encodeURIComponent(query.trim()), {
            credentials: "same-origin",
            headers: { Accept: "application/json" },
          })
            .then(function (r) {
              return r.ok ? r.json() : { items: [] };
            })
            .then(function (body) {
              callback(
                (body.items || []).map(function (item) {
                  return { value: String(item.id), text: item.name };
                })
              );
            })
            .catch(function () {
              callback();
            });
        },
      });
    }
    // eslint-disable-next-line no-new
    new window.TomSelect(el, options);
  }

  function initGeolocation(button) {
    const form = button.closest("form");
    if (!form) return;
    const status = form.querySelector("[data-geolocate-status]");
    const lat = form.querySelector("[name=latitude]");
    const lng = form.querySelector("[name=longitude]");
    function say(text, css) {
      if (!status) return;
      status.textContent = text || "";
      status.className = "small " + (css || "text-secondary");
    }
    if (lat && lat.value && lng && lng.value) {
      say((button.dataset.located || "") + " " + lat.value + ", " + lng.value);
    }
    button.addEventListener("click", function () {
      if (!navigator.geolocation) {
        say(button.dataset.failed, "text-danger");
        return;
      }
      say(button.dataset.locating);
      button.disabled = true;
      navigator.geolocation.getCurrentPosition(
        function (pos) {
          const la = pos.coords.latitude.toFixed(6);
          const lo = pos.coords.longitude.toFixed(6);
          if (lat) lat.value = la;
          if (lng) lng.value = lo;
          button.disabled = false;
          say((button.dataset.located || "") + " " + la + ", " + lo, "text-success");
        },
        function () {
          button.disabled = false;
          say(button.dataset.failed, "text-danger");
        },
        { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 }
      );
    });
  }

  function init(root) {
    root.querySelectorAll("select[data-tom-select]").forEach(initTomSelect);
    root.querySelectorAll("[data-geolocate]").forEach(initGeolocation);
  }

  document.addEventListener("DOMContentLoaded", function () {
    init(document);
  });
  document.addEventListener("htmx:afterSwap", function (ev) {
    init(ev.target);
  });
})();
