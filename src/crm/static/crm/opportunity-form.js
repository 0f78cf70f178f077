// Opportunity form and page (no inline scripts: the content security policy forbids them).
//
// - customer search (tom-select over the customer list API) and that customer's contacts;
// - pipeline → stage → node selects narrowed to the chosen parent, the stage's default
//   probability until the user types one;
// - product lines: add, remove, and the line amounts and total while typing. These amounts are
//   for display only: the server computes the saved ones (half-up to the fen).
(() => {
  "use strict";

  const money = new Intl.NumberFormat("zh-CN", {
    style: "currency",
    currency: "CNY",
    minimumFractionDigits: 2,
  });

  // A decimal text as an exact number of hundredths, rounded half-up; null if not a number.
  function hundredths(text) {
    const s = String(text || "").replace(/[,，\s¥￥]/g, "");
    const m = /^(\d*)(?:\.(\d*))?$/.exec(s);
    if (!s || !m || (m[1] === "" && !m[2])) return null;
    const frac = m[2] || "";
    let value = BigInt(m[1] || "0") * 100n + BigInt((frac + "00").slice(0, 2));
    if (frac.length > 2 && frac[2] >= "5") value += 1n;
    return value;
  }

  function fen(text) {
    return money.format(Number(text) / 100);
  }

  // Keep only the options of `child` whose data-<key> is the value of `parent`.
  function narrow(parent, child, key) {
    if (!parent || !child) return;
    const all = Array.from(child.options).map((o) => o.cloneNode(true));
    const refresh = () => {
      const current = child.value;
      const keep = all.filter((o) => !o.value || o.dataset[key] === parent.value);
      child.replaceChildren(...keep.map((o) => o.cloneNode(true)));
      if (keep.some((o) => o.value === current)) child.value = current;
      else if (child.options.length) child.selectedIndex = 0;
      child.dispatchEvent(new Event("change", { bubbles: true }));
    };
    parent.addEventListener("change", refresh);
    refresh();
  }

  function hideWhenEmpty(select, wrapper) {
    if (!select || !wrapper) return;
    const update = () => {
      wrapper.hidden = !Array.from(select.options).some((o) => o.value);
    };
    select.addEventListener("change", update);
    update();
  }

  // Messages in the page's language (the form carries them as data attributes).
  let texts = {};

  function tom(select, options) {
    if (!window.TomSelect || !select || select.tomselect) return select && select.tomselect;
    const noResults = texts.noResults || "—";
    const render = { no_results: () => `<div class="no-results">${noResults}</div>`, ...(options.render || {}) };
    return new window.TomSelect(select, { ...options, render });
  }

  // --- customer and contacts -------------------------------------------------------------------
  function customerSearch(form) {
    const select = form.querySelector("[data-customer-search]");
    if (!select) return;
    const url = form.dataset.customersUrl;
    tom(select, {
      valueField: "id",
      labelField: "name",
      searchField: [],
      maxOptions: 20,
      preload: false,
      score: () => () => 1,
      placeholder: form.dataset.typeToSearch || "",
      shouldLoad: (query) => query.trim().length > 0,
      load: (query, done) => {
        const params = new URLSearchParams({ q: query.trim(), in_pool: "false", page_size: "20" });
        fetch(`${url}?${params}`, { credentials: "same-origin", headers: { Accept: "application/json" } })
          .then((r) => (r.ok ? r.json() : { items: [] }))
          .then((body) => done(body.items || []))
          .catch(() => done());
      },
      render: {
        option: (item, escape) => {
          const owner = item.owner ? `<small class="text-secondary ms-1">${escape(item.owner.name || item.owner.username)}</small>` : "";
          return `<div>${escape(item.name)}${owner}</div>`;
        },
        item: (item, escape) => `<div>${escape(item.name)}</div>`,
      },
    });
    select.addEventListener("change", () => loadContacts(form, select.value));
  }

  function fillSelect(select, contacts, keepEmpty) {
    if (!select) return;
    const ts = select.tomselect;
    const items = contacts.map((c) => ({ value: String(c.id), text: c.title ? `${c.name} · ${c.title}` : c.name }));
    if (ts) {
      ts.clear(true);
      ts.clearOptions();
      items.forEach((item) => ts.addOption(item));
      ts.refreshOptions(false);
      return;
    }
    const options = keepEmpty ? [new Option("—", "")] : [];
    items.forEach((item) => options.push(new Option(item.text, item.value)));
    select.replaceChildren(...options);
  }

  function loadContacts(form, customerId) {
    const main = form.querySelector("select[name=contact]");
    const others = form.querySelector("select[name=contacts]");
    if (!customerId) {
      fillSelect(main, [], true);
      fillSelect(others, [], false);
      return;
    }
    const params = new URLSearchParams({ customer_id: customerId, page_size: "200", sort: "name" });
    fetch(`${form.dataset.contactsUrl}?${params}`, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((r) => (r.ok ? r.json() : { items: [] }))
      .then((body) => {
        const contacts = body.items || [];
        fillSelect(main, contacts, true);
        fillSelect(others, contacts, false);
        const primary = contacts.find((c) => c.is_primary);
        if (primary && main) main.value = String(primary.id);
      })
      .catch(() => {});
  }

  // --- pipeline, stage, node, probability ------------------------------------------------------
  function stageSelects(form) {
    const pipeline = form.querySelector("select[name=pipeline]");
    const stage = form.querySelector("select[name=stage]");
    const node = form.querySelector("select[name=node]");
    const probability = form.querySelector("input[name=probability]");
    let typed = false;
    if (probability) probability.addEventListener("input", () => { typed = true; });
    const takeProbability = () => {
      if (typed || !probability || !stage) return;
      const chosen = stage.options[stage.selectedIndex];
      if (chosen && chosen.dataset.probability !== undefined) probability.value = chosen.dataset.probability;
    };
    if (pipeline && stage) narrow(pipeline, stage, "pipeline");
    if (stage && node) {
      narrow(stage, node, "stage");
      hideWhenEmpty(node, form.querySelector("[data-node-field]") || node.closest(".mb-3"));
    }
    if (stage) stage.addEventListener("change", takeProbability);
  }

  // --- product lines ---------------------------------------------------------------------------
  function productSelect(select) {
    tom(select, {
      create: true,
      maxItems: 1,
      persist: false,
      allowEmptyOption: true,
      dropdownParent: "body",
      render: { option_create: (data, escape) => `<div class="create">+ ${escape(data.input)}</div>` },
    });
  }

  function lines(form) {
    const box = form.querySelector("[data-lines]");
    if (!box) return;
    const rows = box.querySelector("[data-line-rows]");
    const template = box.querySelector("template[data-line-template]");
    const total = box.querySelector("[data-lines-total]");
    const expected = form.querySelector("input[name=expected_amount]");
    const recompute = () => {
      let sum = 0n;
      let any = false;
      rows.querySelectorAll("[data-line]").forEach((row) => {
        const q = hundredths(row.querySelector("[data-quantity]").value);
        const p = hundredths(row.querySelector("[data-price]").value);
        const cell = row.querySelector("[data-line-amount]");
        if (q === null || p === null || q <= 0n) {
          cell.textContent = "";
          return;
        }
        const amount = (q * p + 50n) / 100n;
        cell.textContent = fen(amount);
        sum += amount;
        any = true;
      });
      total.textContent = any ? fen(sum) : "";
      if (expected) expected.placeholder = any ? fen(sum) : "";
    };
    const wire = (row) => {
      row.querySelectorAll("[data-quantity], [data-price]").forEach((input) => input.addEventListener("input", recompute));
      row.querySelector("[data-remove-line]").addEventListener("click", () => {
        row.remove();
        recompute();
      });
      productSelect(row.querySelector("select[data-product]"));
    };
    rows.querySelectorAll("[data-line]").forEach(wire);
    box.querySelector("[data-add-line]").addEventListener("click", () => {
      const row = template.content.firstElementChild.cloneNode(true);
      rows.appendChild(row);
      wire(row);
      const first = row.querySelector("select[data-product]");
      if (first && first.tomselect) first.tomselect.focus();
    });
    recompute();
  }

  document.addEventListener("DOMContentLoaded", () => {
    const form = document.querySelector("[data-opportunity-form]");
    if (form) {
      const escape = (text) => String(text || "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
      texts = { noResults: escape(form.dataset.noResults) };
      customerSearch(form);
      form.querySelectorAll("select[data-multi]").forEach((select) => tom(select, { plugins: ["remove_button"] }));
      stageSelects(form);
      lines(form);
    }
    // The move modal of the opportunity page: nodes of the chosen stage only.
    const move = document.getElementById("move-form");
    if (move) {
      const stage = move.querySelector("select[name=stage]");
      const node = move.querySelector("select[name=node]");
      narrow(stage, node, "stage");
      hideWhenEmpty(node, node && node.closest(".mb-3"));
    }
  });
})();
