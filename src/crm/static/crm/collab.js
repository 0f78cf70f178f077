// Comments: @mention autocomplete in <textarea data-mention-source="/collab/mention-users/">.
// Typing "@" and a few letters lists matching colleagues; ↑/↓ choose, Enter or Tab inserts
// "@name ", Esc closes. Ctrl+Enter (⌘+Enter) sends the comment. Listeners sit on the document,
// so comment boxes that htmx swaps in work too. No inline scripts (CSP), no HTML from data.
(() => {
  if (window.crmCollabLoaded) return;
  window.crmCollabLoaded = true;

  const TOKEN = /(^|[^A-Za-z0-9._-])@([^\s@]{0,30})$/;
  const state = { el: null, menu: null, items: [], index: 0, start: 0, timer: null, seq: 0 };

  function tokenAt(el) {
    const before = el.value.slice(0, el.selectionStart);
    const match = TOKEN.exec(before);
    if (!match) return null;
    return { start: before.length - match[2].length - 1, query: match[2] };
  }

  function close() {
    if (state.menu) state.menu.remove();
    state.menu = null;
    state.items = [];
    state.el = null;
  }

  function highlight() {
    state.items.forEach((item, i) => {
      item.button.classList.toggle("active", i === state.index);
      item.button.setAttribute("aria-selected", i === state.index ? "true" : "false");
    });
  }

  function pick(i) {
    const el = state.el;
    const item = state.items[i];
    if (!el || !item) return;
    const caret = el.selectionStart;
    const text = `@${item.handle} `;
    el.value = el.value.slice(0, state.start) + text + el.value.slice(caret);
    const at = state.start + text.length;
    close();
    el.focus();
    el.setSelectionRange(at, at);
  }

  function show(el, start, results) {
    close();
    if (!results.length) return;
    const menu = document.createElement("div");
    menu.className = "dropdown-menu show mention-menu";
    menu.setAttribute("role", "listbox");
    menu.style.position = "absolute";
    menu.style.top = "100%";
    menu.style.left = "0";
    menu.style.zIndex = "1050";
    menu.style.maxWidth = "100%";
    results.forEach((user, i) => {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "dropdown-item d-flex gap-2 align-items-baseline";
      button.setAttribute("role", "option");
      button.dataset.mentionHandle = user.handle;
      const name = document.createElement("span");
      name.textContent = user.name;
      const login = document.createElement("span");
      login.className = "text-secondary small";
      login.textContent = user.username;
      button.append(name, login);
      // mousedown keeps the focus in the textarea
      button.addEventListener("mousedown", (ev) => {
        ev.preventDefault();
        pick(i);
      });
      menu.append(button);
      state.items.push({ button, handle: user.handle });
    });
    (el.parentElement || document.body).append(menu);
    Object.assign(state, { el, menu, index: 0, start });
    highlight();
  }

  function lookup(el) {
    const token = tokenAt(el);
    if (!token) {
      close();
      return;
    }
    const seq = ++state.seq;
    clearTimeout(state.timer);
    state.timer = setTimeout(() => {
      const url = `${el.dataset.mentionSource}?q=${encodeURIComponent(token.query)}`;
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then((r) => (r.ok ? r.json() : { results: [] }))
        .then((data) => {
          if (seq === state.seq && document.activeElement === el) {
            show(el, token.start, data.results || []);
          }
        })
        .catch(() => close());
    }, 150);
  }

  document.addEventListener("input", (ev) => {
    const el = ev.target;
    if (el instanceof HTMLTextAreaElement && el.dataset.mentionSource) lookup(el);
  });

  document.addEventListener("keydown", (ev) => {
    const el = ev.target;
    if (!(el instanceof HTMLTextAreaElement) || !el.dataset.mentionSource) return;
    if (state.menu && state.el === el) {
      if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
        ev.preventDefault();
        const n = state.items.length;
        state.index = (state.index + (ev.key === "ArrowDown" ? 1 : n - 1)) % n;
        highlight();
        return;
      }
      if (ev.key === "Enter" || ev.key === "Tab") {
        ev.preventDefault();
        pick(state.index);
        return;
      }
      if (ev.key === "Escape") {
        ev.preventDefault();
        close();
        return;
      }
    }
    if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey) && el.form) {
      ev.preventDefault();
      el.form.requestSubmit();
    }
  });

  document.addEventListener("focusout", (ev) => {
    if (state.el && ev.target === state.el) setTimeout(close, 150);
  });
})();
