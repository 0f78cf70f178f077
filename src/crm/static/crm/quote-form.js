// Quote form, price-list form and printable documents (no inline scripts: the content security
// policy forbids them).
//
// - quote lines: add and remove lines; a product picker (tom-select over the product API, in the
//   chosen price list) that fills description, unit, unit price and tax rate;
// - live totals: the form is posted to the preview endpoint, which prices the lines with the same
//   service the save uses (crm.sales.pricing). Nothing is computed here: the amounts shown are
//   the server's, for display only, and the server computes them again on save;
// - a new quote without a customer: search the customer, then reload with ?customer=<id> so the
//   contacts of that customer are offered;
// - price lists: add and remove price rows; documents: the print button.
(() => {
  "use strict";

  let texts = {};

  const escapeHtml = (text) => String(text == null ? "" : text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

  function tom(select, options) {
    if (!window.TomSelect || !select || select.tomselect) return select && select.tomselect;
    const noResults = texts.noResults || "—";
    const render = { no_results: () => `<div class="no-results">${noResults}</div>`, ...(options.render || {}) };
    return new window.TomSelect(select, { ...options, render });
  }

  function csrfToken(form) {
    const input = form.querySelector("input[name=csrfmiddlewaretoken]");
    if (input) return input.value;
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  // --- the customer of a new quote ---------------------------------------------------------------
  function customerSearch(form) {
    const select = form.querySelector("[data-customer-search]");
    if (!select) return;
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
        fetch(`${form.dataset.customersUrl}?${params}`, { credentials: "same-origin", headers: { Accept: "application/json" } })
          .then((r) => (r.ok ? r.json() : { items: [] }))
          .then((body) => done(body.items || []))
          .catch(() => done());
      },
      render: {
        option: (item, escape) => `<div>${escape(item.name)}</div>`,
        item: (item, escape) => `<div>${escape(item.name)}</div>`,
      },
    });
    const chooseUrl = form.dataset.chooseUrl;
    select.addEventListener("change", () => {
      if (chooseUrl && select.value) window.location.href = `${chooseUrl}?${new URLSearchParams({ customer: select.value })}`;
    });
  }

  // --- lines -------------------------------------------------------------------------------------
  function productPicker(form, row, onPicked) {
    const select = row.querySelector("select[data-product]");
    const priceList = form.querySelector("select[name=price_list]");
    const ts = tom(select, {
      valueField: "id",
      labelField: "label",
      searchField: [],
      maxItems: 1,
      allowEmptyOption: true,
      preload: "focus",
      score: () => () => 1,
      placeholder: form.dataset.typeProduct || "",
      dropdownParent: "body",
      load: (query, done) => {
        const params = new URLSearchParams({ active: "true", page_size: "30", sort: "code" });
        if (query.trim()) params.set("q", query.trim());
        if (priceList && priceList.value) params.set("price_list_id", priceList.value);
        fetch(`${form.dataset.productsUrl}?${params}`, { credentials: "same-origin", headers: { Accept: "application/json" } })
          .then((r) => (r.ok ? r.json() : { items: [] }))
          .then((body) => done((body.items || []).map((p) => ({ ...p, id: String(p.id), label: `${p.code} ${p.name}` }))))
          .catch(() => done());
      },
      render: {
        option: (item, escape) => {
          const price = item.price ? `<small class="text-secondary ms-1">¥${escape(item.price)}${item.unit ? "/" + escape(item.unit) : ""}</small>` : "";
          return `<div>${escape(item.label)}${price}</div>`;
        },
        item: (item, escape) => `<div>${escape(item.label)}</div>`,
      },
    });
    if (!select) return;
    // A description still equal to the chosen product's name follows the next product chosen.
    let previousName = select.value ? row.querySelector("[data-description]").value : "";
    select.addEventListener("change", () => {
      const data = ts ? ts.options[select.value] : null;
      if (data && data.name !== undefined) {
        const description = row.querySelector("[data-description]");
        const unit = row.querySelector("[data-unit]");
        if (!description.value.trim() || description.value === previousName) description.value = data.name;
        if (!unit.value.trim() || data.unit) unit.value = data.unit || unit.value;
        row.querySelector("[data-price]").value = data.price;
        row.querySelector("[data-tax]").value = String(data.tax_rate).replace(/\.?0+$/, "");
        previousName = data.name;
        const quantity = row.querySelector("[data-quantity]");
        if (!quantity.value.trim()) quantity.value = "1";
      }
      onPicked();
    });
    if (priceList && ts) priceList.addEventListener("change", () => { ts.loadedSearches = {}; ts.clearOptions(); });
  }

  // The rows the server prices: it drops rows whose inputs (other than the discount kind) are
  // all empty, so the answers are matched to the other rows in order.
  function meaningful(row) {
    return Array.from(row.querySelectorAll("input, select")).some(
      (el) => el.name && el.name !== "line-discount_kind" && String(el.value || "").trim() !== "",
    );
  }

  function lines(form) {
    const box = form.querySelector("[data-lines]");
    if (!box) return;
    const rows = box.querySelector("[data-line-rows]");
    const template = box.querySelector("template[data-line-template]");
    const totals = form.querySelectorAll("[data-total]");
    let timer = null;
    let sequence = 0;

    const show = (body) => {
      const answers = body.lines || [];
      let index = 0;
      rows.querySelectorAll("[data-line]").forEach((row) => {
        const total = row.querySelector("[data-line-total]");
        const error = row.querySelector("[data-line-error]");
        if (!meaningful(row)) {
          total.textContent = "";
          error.textContent = "";
          return;
        }
        const answer = answers[index++] || {};
        total.textContent = answer.amounts ? answer.amounts.total : "";
        error.textContent = answer.error || "";
      });
      totals.forEach((cell) => {
        const value = (body.totals || {})[cell.dataset.total];
        if (value !== undefined) cell.textContent = value;
      });
    };

    const preview = () => {
      const mine = ++sequence;
      fetch(form.dataset.previewUrl, {
        method: "POST",
        body: new FormData(form),
        credentials: "same-origin",
        headers: { Accept: "application/json", "X-CSRFToken": csrfToken(form) },
      })
        .then((r) => (r.ok ? r.json() : null))
        .then((body) => { if (body && mine === sequence) show(body); })
        .catch(() => {});
    };
    const schedule = () => {
      clearTimeout(timer);
      timer = setTimeout(preview, 250);
    };

    const wire = (row) => {
      row.querySelectorAll("input").forEach((input) => input.addEventListener("input", schedule));
      row.querySelectorAll("select:not([data-product])").forEach((s) => s.addEventListener("change", schedule));
      row.querySelector("[data-remove-line]").addEventListener("click", () => {
        row.remove();
        schedule();
      });
      productPicker(form, row, schedule);
    };
    rows.querySelectorAll("[data-line]").forEach(wire);
    box.querySelector("[data-add-line]").addEventListener("click", () => {
      const row = template.content.firstElementChild.cloneNode(true);
      rows.appendChild(row);
      wire(row);
      const description = row.querySelector("[data-description]");
      if (description) description.focus();
    });
    preview();
  }

  // --- price list rows ---------------------------------------------------------------------------
  function priceRows(box) {
    const list = box.querySelector("[data-row-list]");
    const template = box.querySelector("template[data-row-template]");
    const wire = (row) => {
      const remove = row.querySelector("[data-remove-row]");
      if (remove) remove.addEventListener("click", () => row.remove());
    };
    list.querySelectorAll("[data-item]").forEach(wire);
    const add = box.querySelector("[data-add-row]");
    if (add) {
      add.addEventListener("click", () => {
        const row = template.content.firstElementChild.cloneNode(true);
        list.appendChild(row);
        wire(row);
      });
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    const form = document.querySelector("[data-quote-form]");
    if (form) {
      texts = { noResults: escapeHtml(form.dataset.noResults) };
      customerSearch(form);
      lines(form);
    }
    document.querySelectorAll("[data-rows]").forEach(priceRows);
    document.querySelectorAll("[data-print]").forEach((button) => button.addEventListener("click", () => window.print()));
  });
})();
