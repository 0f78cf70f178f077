// The pipeline board (R4.6, R11.1): cards are dragged between stage columns with SortableJS
// (mouse and touch). A drop on an open stage posts the move at once; a drop on the won or a
// lost column first asks for the actual amount and date, or the loss reason and lessons.
// When the server refuses (someone changed the opportunity meanwhile, a rule was broken),
// the card goes back where it was and the message is shown.
(function () {
  "use strict";

  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  // ¥1,234.50 from an integer number of fen (exact: no floating-point sums).
  function cny(fen) {
    const negative = fen < 0;
    const abs = Math.abs(fen);
    const yuan = Math.floor(abs / 100).toLocaleString("en-US");
    const cents = String(abs % 100).padStart(2, "0");
    return (negative ? "-" : "") + "¥" + yuan + "." + cents;
  }

  function modalApi(el) {
    const Modal = (window.bootstrap && window.bootstrap.Modal) || (window.tabler && window.tabler.Modal);
    if (Modal) {
      const instance = Modal.getOrCreateInstance(el);
      return { show: () => instance.show(), hide: () => instance.hide() };
    }
    // Fallback without Bootstrap's script: show and hide by class.
    return {
      show: () => {
        el.classList.add("show", "d-block");
        el.removeAttribute("aria-hidden");
      },
      hide: () => {
        el.classList.remove("show", "d-block");
        el.setAttribute("aria-hidden", "true");
        el.dispatchEvent(new Event("hidden.bs.modal"));
      },
    };
  }

  document.addEventListener("DOMContentLoaded", () => {
    const board = document.getElementById("board");
    if (!board || typeof window.Sortable === "undefined") return;
    const moveUrl = board.dataset.moveUrl;
    const canEdit = board.hasAttribute("data-can-edit");
    const message = document.getElementById("board-message");
    let pending = null; // the drop waiting for the won/lost dialog

    function say(text, ok) {
      message.textContent = text;
      message.className = "alert " + (ok ? "alert-success" : "alert-danger");
      message.hidden = false;
    }

    function column(list) {
      return list.closest("[data-column]");
    }

    function adjust(list, deltaCount, deltaFen) {
      const col = column(list);
      if (!col) return;
      const count = col.querySelector("[data-role=count]");
      const total = col.querySelector("[data-role=total]");
      count.textContent = String(Number(count.textContent) + deltaCount);
      const fen = Number(total.dataset.fen || 0) + deltaFen;
      total.dataset.fen = String(fen);
      total.textContent = cny(fen);
    }

    function putBack(drop) {
      const ref = drop.from.children[drop.oldIndex] || null;
      drop.from.insertBefore(drop.item, ref);
    }

    async function post(drop, extra) {
      const body = new URLSearchParams();
      body.set("pk", drop.item.dataset.id);
      body.set("stage", drop.to.dataset.stage);
      body.set("version", drop.item.dataset.version);
      Object.entries(extra || {}).forEach(([k, v]) => body.set(k, v));
      let response;
      let data = {};
      try {
        response = await fetch(moveUrl, {
          method: "POST",
          headers: { "X-CSRFToken": csrfToken(), "X-Requested-With": "XMLHttpRequest" },
          body: body,
          credentials: "same-origin",
        });
        data = await response.json().catch(() => ({}));
      } catch (e) {
        response = null;
      }
      return { ok: Boolean(response && response.ok), status: response ? response.status : 0, data: data };
    }

    function applied(drop, data) {
      const card = drop.item;
      const oldFen = Number(card.dataset.fen || 0);
      const newFen = data.amount_fen != null ? Number(data.amount_fen) : oldFen;
      card.dataset.version = String(data.version);
      card.dataset.fen = String(newFen);
      const days = card.querySelector("[data-role=days]");
      if (days && data.days_label) days.textContent = data.days_label;
      const amount = card.querySelector("[data-role=amount]");
      if (amount && data.amount) amount.textContent = data.amount;
      if (data.closed) {
        card.classList.remove("board-card-draggable");
        card.querySelectorAll("[data-flag]").forEach((el) => el.remove());
      }
      adjust(drop.from, -1, -oldFen);
      adjust(drop.to, 1, newFen);
      say(data.message || "", true);
    }

    function refused(drop, result) {
      putBack(drop);
      const text = (result.data && result.data.message) || board.dataset.failed || "Error";
      say(text, false);
    }

    async function move(drop) {
      const result = await post(drop, {});
      if (result.ok) applied(drop, result.data);
      else refused(drop, result);
    }

    // --- the won and lost dialogs ----------------------------------------------------------
    function dialog(id) {
      const el = document.getElementById(id);
      const form = el.querySelector("form");
      const api = modalApi(el);
      const error = el.querySelector("[data-role=error]");
      el.addEventListener("hidden.bs.modal", () => {
        if (pending && pending.dialog === id) {
          putBack(pending.drop);
          pending = null;
        }
      });
      form.addEventListener("submit", async (ev) => {
        ev.preventDefault();
        if (!pending) return;
        const drop = pending.drop;
        const extra = Object.fromEntries(new FormData(form).entries());
        const submit = form.querySelector("[type=submit]");
        submit.disabled = true;
        const result = await post(drop, extra);
        submit.disabled = false;
        if (result.ok) {
          pending = null;
          api.hide();
          applied(drop, result.data);
        } else if (result.status === 400) {
          error.textContent = (result.data && result.data.message) || "";
          error.hidden = false;
        } else {
          pending = null;
          api.hide();
          refused(drop, result);
        }
      });
      return {
        open(drop) {
          pending = { dialog: id, drop: drop };
          error.hidden = true;
          form.reset();
          const name = el.querySelector("[data-role=name]");
          const title = drop.item.querySelector(".board-card-name");
          if (name && title) name.textContent = title.textContent;
          const amount = form.querySelector("[name=actual_amount]");
          if (amount) amount.value = drop.item.dataset.amount || "";
          api.show();
        },
      };
    }

    const win = dialog("win-modal");
    const lose = dialog("lose-modal");

    // --- SortableJS on every column ----------------------------------------------------------
    board.querySelectorAll(".board-cards").forEach((list) => {
      const closed = list.dataset.kind !== "open";
      window.Sortable.create(list, {
        group: { name: "board", pull: !closed && canEdit, put: canEdit },
        sort: false,
        disabled: !canEdit,
        draggable: ".board-card-draggable",
        animation: 150,
        delay: 200,
        delayOnTouchOnly: true,
        ghostClass: "board-card-ghost",
        onAdd: (evt) => {
          const drop = { item: evt.item, from: evt.from, to: evt.to, oldIndex: evt.oldIndex };
          message.hidden = true;
          const kind = evt.to.dataset.kind;
          if (kind === "won") win.open(drop);
          else if (kind === "lost") lose.open(drop);
          else move(drop);
        },
      });
    });
  });
})();
