// The receivable plan editor: adds installment rows (from the <template> of an empty row), and
// shows live whether the amounts add up to the contract amount. A share typed without an amount
// shows the amount it makes as the amount's placeholder; the server computes the real figures
// (one rounding rule, in crm.core.money), this is only a hint.
(function () {
  "use strict";

  function toFen(text) {
    const clean = String(text || "").replace(/[,，\s¥￥%]/g, "");
    if (!/^\d+(\.\d{0,2})?$/.test(clean)) return null;
    const parts = clean.split(".");
    return Number(parts[0]) * 100 + Number((parts[1] || "").padEnd(2, "0"));
  }

  function fenText(fen) {
    const sign = fen < 0 ? "-" : "";
    const abs = Math.abs(fen);
    const yuan = Math.floor(abs / 100).toLocaleString();
    return sign + "¥" + yuan + "." + String(abs % 100).padStart(2, "0");
  }

  document.addEventListener("DOMContentLoaded", function () {
    const form = document.getElementById("plan-form");
    const amountEl = document.getElementById("contract-amount");
    if (!form || !amountEl) return;
    const total = toFen(amountEl.dataset.amount) || 0;
    const body = document.getElementById("plan-rows-body");
    const totalForms = form.querySelector('input[name$="-TOTAL_FORMS"]');
    const sumCell = document.getElementById("plan-sum");
    const shareCell = document.getElementById("plan-share-sum");
    const state = document.getElementById("plan-sum-state");

    function refresh() {
      let sum = 0;
      let shares = 0;
      body.querySelectorAll("[data-plan-row]").forEach(function (row) {
        const remove = row.querySelector('input[name$="-remove"]');
        if (remove && remove.checked) return;
        const amount = row.querySelector('input[name$="-amount"]');
        const share = row.querySelector('input[name$="-percentage"]');
        let fen = toFen(amount && amount.value);
        const shareFen = toFen(share && share.value);
        if (fen === null && shareFen !== null) {
          fen = Math.round((total * shareFen) / 10000);
          if (amount) amount.placeholder = (fen / 100).toFixed(2);
        }
        if (fen !== null) sum += fen;
        if (fen !== null && total > 0) shares += (fen * 10000) / total;
      });
      sumCell.textContent = fenText(sum);
      shareCell.textContent = (shares / 100).toFixed(2) + "%";
      const ok = sum === total;
      sumCell.classList.toggle("text-green", ok);
      sumCell.classList.toggle("text-red", !ok);
      state.textContent = ok
        ? sumCell.dataset.labelOk
        : sumCell.dataset.labelOff + " (" + fenText(total - sum) + ")";
    }

    document.getElementById("plan-add-row").addEventListener("click", function () {
      const template = document.getElementById("plan-empty-row");
      const index = Number(totalForms.value);
      const html = template.innerHTML.replace(/__prefix__/g, String(index));
      body.insertAdjacentHTML("beforeend", html);
      totalForms.value = String(index + 1);
      const rows = body.querySelectorAll("[data-plan-row]");
      const number = rows[rows.length - 1].querySelector("[data-row-number]");
      if (number) number.prepend(String(index + 1));
      refresh();
    });
    form.addEventListener("input", refresh);
    form.addEventListener("change", refresh);
    refresh();
  });
})();
